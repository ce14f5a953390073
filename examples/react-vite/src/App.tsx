import { useEffect, useState, type MouseEvent, type ReactNode } from 'react'
import { readJson, type SignedIn, type SignedOutReason, type UserInfo } from '@hitkey-bff/client'
import { bff } from './bff'
import { navigate, useLocation, type Place } from './router'
import { toBffError, useSession } from './useSession'

const PROFILE_LINK = '/settings/profile?tab=security#sessions'

const SIGNED_OUT: Record<SignedOutReason, string> = {
  logout: 'You are signed out.',
  logout_everywhere: 'You are signed out on every device.',
  other_tab: 'You signed out in another tab.',
  unauthenticated: 'Your session has ended. Please sign in again.',
  session: 'Your session has ended. Please sign in again.',
}

// What /auth/callback's ?auth_error=<code> means, in words for people.
const AUTH_ERRORS: Record<string, string> = {
  access_denied: 'Sign-in was cancelled at HitKey.',
  invalid_state: 'The sign-in could not be matched to this browser. Please try again.',
  login_cookie_missing:
    'Your browser did not send back its sign-in cookie. Allow cookies for this site and try again; ' +
    'on http://localhost, Safari drops secure cookies: use https, or Chrome or Firefox.',
  invalid_grant: 'The sign-in code was already used or has expired. Please try again.',
  invalid_request: 'The sign-in answer was incomplete. Please try again.',
  upstream_error: 'HitKey did not answer properly. Please try again in a moment.',
  upstream_timeout: 'HitKey took too long to answer. Please try again in a moment.',
  service_unavailable: 'The sign-in service is temporarily unavailable.',
  misconfigured: 'The BFF is not configured correctly.',
  server_error: 'HitKey had a problem completing the sign-in.',
}

function nameOf(session: SignedIn): string {
  const u = session.user
  return String(u.name || [u.given_name, u.family_name].filter(Boolean).join(' ') || u.email || u.sub)
}

/** Read ?auth_error= once, then take it out of the address bar. */
function takeAuthError(): string {
  const url = new URL(window.location.href)
  const code = url.searchParams.get('auth_error')
  if (code === null) return ''
  url.searchParams.delete('auth_error')
  window.history.replaceState(null, '', url.pathname + url.search + url.hash)
  return AUTH_ERRORS[code] ?? `Sign-in did not complete (${code.slice(0, 64)}).`
}

export default function App() {
  const place = useLocation()
  const { state, notice, setNotice } = useSession()
  const [authError] = useState(takeAuthError)

  const link = (to: string) => (event: MouseEvent) => {
    event.preventDefault()
    navigate(to)
  }

  let body: ReactNode
  if (state.status === 'loading') {
    body = <p className="muted">Checking your session…</p>
  } else if (state.status === 'error') {
    body = (
      <p id="error" className="error" role="alert">
        The BFF did not answer: {state.error.message} ({state.error.code})
      </p>
    )
  } else if (state.status === 'signed-out') {
    body = <SignedOutView place={place} reason={state.reason} />
  } else if (place.pathname === '/settings/profile') {
    body = <Profile session={state.session} place={place} />
  } else {
    body = <Home session={state.session} onStatus={setNotice} />
  }

  return (
    <main className="card">
      <header className="top">
        <strong>hitkey-bff + React</strong>
        <nav>
          <a href="/" onClick={link('/')}>Home</a>
          <a id="profile-link" href={PROFILE_LINK} onClick={link(PROFILE_LINK)}>Profile</a>
        </nav>
      </header>
      {authError && (
        <p id="auth-error" className="error" role="alert">
          {authError}
        </p>
      )}
      {body}
      <p id="status" className="status" role="status" aria-live="polite">
        {notice}
      </p>
    </main>
  )
}

function SignedOutView({ place, reason }: { place: Place; reason?: SignedOutReason }) {
  const deep = place.pathname !== '/'
  return (
    <section id="signed-out">
      <h1>{deep ? 'Sign in to see this page' : "You're signed out"}</h1>
      {reason && <p id="signed-out-reason">{SIGNED_OUT[reason]}</p>}
      {deep && (
        <p className="muted">
          After signing in you come back to <code id="return-to">{place.pathname + place.search + place.hash}</code>.
        </p>
      )}
      {/* A navigation, not a fetch: the BFF sends the browser to HitKey and back here. */}
      <button id="signin" className="primary" type="button" onClick={() => void bff.login()}>
        Sign in with HitKey
      </button>
    </section>
  )
}

function Home({ session, onStatus }: { session: SignedIn; onStatus: (text: string) => void }) {
  const [expiry, setExpiry] = useState(session.access_token_expires_at)
  const [api, setApi] = useState<{ ok: boolean; text: string } | null>(null)
  const [busy, setBusy] = useState('')

  async function run(what: string, action: () => Promise<void>) {
    setBusy(what)
    try {
      await action()
    } catch (err) {
      const e = toBffError(err)
      if (e.status !== 401) onStatus(`${what} failed: ${e.message} (${e.code})`) // 401: signedout follows
    } finally {
      setBusy('')
    }
  }

  const refresh = () =>
    run('Refresh', async () => {
      const answer = await bff.refresh()
      setExpiry(answer.expires_at)
      onStatus(`Tokens refreshed at ${new Date().toLocaleTimeString()}.`)
    })

  const callApi = () =>
    run('Calling the API', async () => {
      try {
        const answer = await readJson(await bff.api('demo', '/hello'))
        setApi({ ok: true, text: JSON.stringify(answer, null, 2) })
      } catch (err) {
        const e = toBffError(err)
        setApi({ ok: false, text: `${e.message} (${e.code}${e.status ? `, HTTP ${e.status}` : ''})` })
      }
    })

  const signOut = () => run('Sign-out', () => bff.logout()) // the signedout event re-renders

  return (
    <section id="signed-in">
      <h1>
        Hello, <span id="user-name">{nameOf(session)}</span>
      </h1>
      <dl className="facts">
        <dt>Session ends</dt>
        <dd id="session-expiry">{new Date(session.expires_at * 1000).toLocaleString()}</dd>
        <dt>Access token expires</dt>
        <dd id="token-expiry">{expiry ? new Date(expiry * 1000).toLocaleString() : '—'}</dd>
      </dl>
      <div className="actions">
        <button id="refresh" type="button" disabled={busy !== ''} onClick={() => void refresh()}>
          Refresh tokens
        </button>
        <button id="call-api" type="button" disabled={busy !== ''} onClick={() => void callApi()}>
          Call /api/demo/hello
        </button>
        <button id="signout" type="button" disabled={busy !== ''} onClick={() => void signOut()}>
          Sign out
        </button>
      </div>
      {api && (
        <pre id={api.ok ? 'api-result' : 'api-error'} className={api.ok ? 'code' : 'code error'}>
          {api.text}
        </pre>
      )}
    </section>
  )
}

function Profile({ session, place }: { session: SignedIn; place: Place }) {
  const [claims, setClaims] = useState<UserInfo | null>(null)
  const [error, setError] = useState('')
  const tab = new URLSearchParams(place.search).get('tab') ?? ''

  useEffect(() => {
    let live = true
    bff.userinfo().then(
      (answer) => live && setClaims(answer),
      (err: unknown) => live && setError(toBffError(err).message),
    )
    return () => {
      live = false
    }
  }, [])

  return (
    <section id="profile">
      <h1>
        Profile of <span id="user-name">{nameOf(session)}</span>
      </h1>
      <p className="muted">
        Tab <code id="profile-tab">{tab}</code>, section <code id="profile-hash">{place.hash}</code>: this page was a
        deep link, and sign-in came back to it.
      </p>
      {error && <p className="error">{error}</p>}
      <pre id="claims" className="code">
        {claims ? JSON.stringify(claims, null, 2) : 'Loading…'}
      </pre>
    </section>
  )
}
