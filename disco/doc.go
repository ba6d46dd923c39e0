// Package disco implements XEP-0030 (Service Discovery), the extended
// information forms of XEP-0128 (Service Discovery Extensions), and the
// verification string and hash of XEP-0115 (Entity Capabilities) §5.
//
// It owns the XEP-0030 types ([Identity], [Item], [Info]) and the
// interfaces through which handlers advertise themselves, per queried JID
// and node: [FeatureProvider], [IdentityProvider], [ItemProvider] and
// [FormProvider].
//
// [Handler] answers disco#info and disco#items queries (XEP-0030 §3, §4).
// Its answers combine what the handlers registered on a mux.ServeMux
// advertise (walked through mux.ServeMux.Handlers at every query) with the
// identities, features, items and forms added to the Handler itself.
//
// # Composing services
//
// One Handler serves every service on a mux. A service's Register method
// mounts the service's own handlers and never a disco Handler (mounting a
// second one would panic with a duplicate IQ route); the service's handlers
// implement the provider interfaces, so that its identities and features
// appear in the one Handler's answers. The program mounts the Handler
// once:
//
//	m := mux.New()
//	pubsubService.Register(m)  // XEP-0060, a FeatureProvider and IdentityProvider
//	version.Handler{Info: version.Info{Name: "svc"}}.Register(m)
//	ping.Handler{}.Register(m)
//	disco.New(m).Register(m)   // answers for all of them
//
// GetInfo and GetItems ask a peer. VerificationString and CapsHash compute
// the XEP-0115 ver attribute of an Info, Caps the <c/> element that carries
// it in presence; a Handler answers disco#info for "node#ver" with the
// entity's own info (XEP-0115 §6.2).
package disco
