import { defineConfig, loadEnv } from "vite";

// Production: `npm run build` → dist/, served by Envoy at `/` (make up), same origin as the RPCs.
// Development: `npm run dev` on :5173 proxies every RPC path (/trademesh.<pkg>.v1.<Service>/<Method>) to
// the gateway at TRADEMESH_GATEWAY (default http://127.0.0.1:8080, make up's), so it is same-origin too.
// VITE_TRADEMESH_GATEWAY instead makes the app call a gateway directly (that origin must then be in the
// gateway's --cors-origin list).
export default defineConfig(({ mode }) => ({
  esbuild: { jsx: "automatic", jsxImportSource: "preact" },
  resolve: {
    // @trademesh/sdk is linked from ../typescript, which has its own node_modules: use one copy.
    dedupe: ["@bufbuild/protobuf", "@connectrpc/connect", "preact"],
  },
  build: { target: "es2022", sourcemap: true, chunkSizeWarningLimit: 1024 },
  server: {
    port: 5173,
    strictPort: true,
    proxy: {
      "^/trademesh\\.": {
        target: loadEnv(mode, ".", "TRADEMESH_").TRADEMESH_GATEWAY || "http://127.0.0.1:8080",
        changeOrigin: true,
      },
    },
  },
}));
