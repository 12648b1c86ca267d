"""Market-data service: simulated or Kite ticks → Redis backplane → conflated, batched quote streams."""
