import { useEffect, useState } from 'react'
import { BffError, type SignedIn, type SignedOutReason } from '@hitkey-bff/client'
import { bff } from './bff'

export type SessionState =
  | { status: 'loading' }
  | { status: 'signed-out'; reason?: SignedOutReason }
  | { status: 'signed-in'; session: SignedIn }
  | { status: 'error'; error: BffError }

/**
 * The session as React state: asked once on mount, and signed out whenever the client says so
 * (a 401, a sign-out, another tab's sign-out) - no component has to guess from a status code.
 */
export function useSession() {
  const [state, setState] = useState<SessionState>({ status: 'loading' })
  const [notice, setNotice] = useState('')

  useEffect(() => {
    let live = true
    const onSignedOut = (event: CustomEvent<{ reason: SignedOutReason }>) => {
      setState({ status: 'signed-out', reason: event.detail.reason })
    }
    const onExpiring = (event: CustomEvent<{ expiresAt: Date; reason: 'absolute' | 'idle' }>) => {
      const at = event.detail.expiresAt.toLocaleTimeString()
      setNotice(event.detail.reason === 'idle' ? `Inactive: your session ends at ${at}.` : `Your session ends at ${at}.`)
    }
    bff.addEventListener('signedout', onSignedOut)
    bff.addEventListener('expiring', onExpiring)
    bff.session().then(
      (session) => live && setState(session.authenticated ? { status: 'signed-in', session } : { status: 'signed-out' }),
      (err: unknown) => live && setState({ status: 'error', error: toBffError(err) }),
    )
    return () => {
      live = false
      bff.removeEventListener('signedout', onSignedOut)
      bff.removeEventListener('expiring', onExpiring)
    }
  }, [])

  return { state, notice, setNotice }
}

export function toBffError(err: unknown): BffError {
  if (err instanceof BffError) return err
  return new BffError(0, 'client_error', err instanceof Error ? err.message : String(err))
}
