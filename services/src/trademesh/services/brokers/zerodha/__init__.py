"""Zerodha (Kite Connect): Console tradebook files, the Kite REST API through kiteconnect, the KiteTicker feed."""
