package router

// Stats is a snapshot of the router's state and counters (see
// Router.Stats). The counters count from New.
type Stats struct {
	// Components is the number of component domains with a route now
	// (TCP and in-process).
	Components int
	// Clients is the number of bound client resources now (client streams
	// and in-memory clients, RFC 6120 §7).
	Clients int
	// Unauthenticated is the number of connections that have not
	// authenticated yet, on all listeners.
	Unauthenticated int
}

// Stats returns a snapshot of the router's state and counters.
func (r *Router) Stats() Stats {
	r.mu.RLock()
	defer r.mu.RUnlock()
	s := Stats{Components: len(r.comps), Unauthenticated: r.unauthAll}
	for _, a := range r.users {
		s.Clients += len(a.res)
	}
	return s
}
