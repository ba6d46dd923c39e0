package gateway

import (
	"encoding/json"
	"fmt"
	"strings"

	"xmppkit.dev/bridge"
	"xmppkit.dev/bridge/settings"
	"xmppkit.dev/jid"
	"xmppkit.dev/journal"
)

// Registration is what a user registered with the gateway (XEP-0077 §3.1):
// the IRC nick, an optional IRC server password (PASS), and an optional
// server to connect to when the user comes online. It is a view of the
// user's account in the gateway kit's store (bridge.Account, values
// "nick", "password" and "server").
type Registration struct {
	JID      string // the user's bare JID
	Nick     string
	Password string
	Server   string
}

// registrationOf reads the registration of an account.
func registrationOf(a bridge.Account) Registration {
	return Registration{JID: a.JID.String(), Nick: a.Get("nick"), Password: a.Get("password"), Server: a.Get("server")}
}

// Store keeps the registrations: the gateway kit's account store.
type Store = bridge.Store

// MemoryStore is a Store that forgets everything when the process ends.
type MemoryStore = bridge.MemoryStore

// JournalStore is a Store on disk (package journal), the kit's.
type JournalStore = bridge.JournalStore

// OpenJournalStore opens (creating if needed) the registrations kept in dir.
// The directory is locked while the store is open; recovery after a crash
// follows package journal (a torn last record is dropped, other damage
// refused).
func OpenJournalStore(dir string) (*JournalStore, error) {
	return OpenJournalStoreWith(dir, journal.Options{})
}

// OpenJournalStoreWith is OpenJournalStore with the journal's options
// (DropCorrupt to start on a damaged journal, Logger for what recovery
// drops).
func OpenJournalStoreWith(dir string, opts journal.Options) (*JournalStore, error) {
	return OpenSealedJournalStore(dir, opts, nil)
}

// OpenSealedJournalStore is OpenJournalStoreWith where the IRC passwords are
// sealed with sealer on disk (AES-256-GCM, package settings). Registrations
// written by earlier versions of the gateway (records of its own format) are
// read, and rewritten in the kit's at the next compaction.
func OpenSealedJournalStore(dir string, opts journal.Options, sealer *settings.Sealer) (*JournalStore, error) {
	so := bridge.StoreOptions{Journal: opts, Secret: func(f string) bool { return f == "password" }, Decode: decodeLegacy}
	if sealer != nil {
		so.Sealer = sealer
	}
	return bridge.OpenStore(dir, so)
}

// legacyRecord is a registration record as the gateway wrote it before it
// kept its accounts in the kit's store.
type legacyRecord struct {
	Op  string `json:"op"` // "put" or "del"
	Reg struct {
		JID      string `json:"jid"`
		Nick     string `json:"nick"`
		Password string `json:"password,omitempty"`
		Server   string `json:"server,omitempty"`
	} `json:"reg"`
}

func decodeLegacy(rec []byte) (bridge.Account, bool, error) {
	var r legacyRecord
	if err := json.Unmarshal(rec, &r); err != nil {
		return bridge.Account{}, false, err
	}
	j, err := jid.Parse(r.Reg.JID)
	if err != nil || r.Op != "put" && r.Op != "del" {
		return bridge.Account{}, false, fmt.Errorf("gateway: unreadable registration record %q", strings.TrimSpace(string(rec)))
	}
	a := bridge.Account{JID: j.Bare(), Values: map[string]string{"nick": r.Reg.Nick}}
	if r.Reg.Password != "" {
		a.Values["password"] = r.Reg.Password
	}
	if r.Reg.Server != "" {
		a.Values["server"] = r.Reg.Server
	}
	return a, r.Op == "del", nil
}
