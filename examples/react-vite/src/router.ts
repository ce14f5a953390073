import { useEffect, useState } from 'react'

export interface Place {
  pathname: string
  search: string
  hash: string
}

const here = (): Place => ({ pathname: window.location.pathname, search: window.location.search, hash: window.location.hash })

/** Just enough routing for the example: the current place, and navigation without a reload. */
export function useLocation(): Place {
  const [place, setPlace] = useState(here)
  useEffect(() => {
    const onChange = () => setPlace(here())
    window.addEventListener('popstate', onChange)
    window.addEventListener('app:navigate', onChange)
    return () => {
      window.removeEventListener('popstate', onChange)
      window.removeEventListener('app:navigate', onChange)
    }
  }, [])
  return place
}

export function navigate(to: string) {
  window.history.pushState(null, '', to)
  window.dispatchEvent(new Event('app:navigate'))
}
