import { createBff } from '@hitkey-bff/client'

/** The app's one client for the BFF, on this origin (Vite proxies /auth and /api to it). */
export const bff = createBff({ expiringLeadSeconds: 120 })
