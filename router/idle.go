package router

// idlePingPrefix starts the id of the XEP-0199 pings the router sends to an
// idle client (see Config.IdleTimeout); their answers are expected, not
// dropped stanzas.
const idlePingPrefix = "xk-idle-"
