import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig, loadEnv, searchForWorkspaceRoot } from 'vite'

// The BFF (`make run`) answers /auth and /api; Vite proxies both, so the app, its cookie and every
// BFF call share this one origin - as behind CloudFront in production. `make run` must get this
// dev server's origin as APP_ORIGIN: a deployed BFF refuses POSTs from any origin but its own
// AppOrigin (403 origin_not_allowed), so it cannot serve this dev server.
//
//   APP_ORIGIN=http://localhost:5173 make run     # in the hitkey-bff checkout (BFF on :3000)
//   npm run dev                                   # here
//
// BFF_URL: where the BFF listens (default http://localhost:3000).
// APP_ORIGIN: this dev server's origin, the same value `make run` got (default
// http://localhost:5173); its port is the port Vite takes, and it must be free (strictPort).
// VITE_CACHE_DIR: another cache (and so another dev-server lock) than node_modules/.vite, for a
// second dev server of this project beside yours, as the browser test starts.
export default defineConfig(({ mode }) => {
  const env = loadEnv(mode, process.cwd(), '')
  const bff = env.BFF_URL || 'http://localhost:3000'
  const origin = new URL(env.APP_ORIGIN || 'http://localhost:5173')
  const toBff = { target: bff, changeOrigin: true }
  return {
    plugins: [react()],
    cacheDir: env.VITE_CACHE_DIR || undefined,
    server: {
      host: origin.hostname,
      port: Number(origin.port || 5173),
      strictPort: true,
      proxy: { '/auth': toBff, '/api': toBff },
      // The client is a linked package (file:../../clients/js): let Vite serve it.
      fs: { allow: [searchForWorkspaceRoot(process.cwd()), fileURLToPath(new URL('../../clients/js', import.meta.url))] },
    },
  }
})
