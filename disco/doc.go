// Package disco implements XEP-0030 (Service Discovery), the extended
// information forms of XEP-0128 (Service Discovery Extensions), and the
// verification string and hash of XEP-0115 (Entity Capabilities) §5.
//
// Handler answers disco#info and disco#items queries (XEP-0030 §3, §4). Its
// answers combine what the handlers of a mux.ServeMux advertise (through
// the mux.FeatureProvider, mux.IdentityProvider, mux.ItemProvider and
// mux.FormProvider interfaces, per queried JID and node) with the
// identities, features, items and forms added to the Handler itself.
//
// GetInfo and GetItems ask a peer. VerificationString and CapsHash compute
// the XEP-0115 ver attribute of an Info, Caps the <c/> element that carries
// it in presence; a Handler answers disco#info for "node#ver" with the
// entity's own info (XEP-0115 §6.2).
package disco
