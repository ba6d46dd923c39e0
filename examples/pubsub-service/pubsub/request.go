package pubsub

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"strings"

	"xmppkit.dev/form"
	"xmppkit.dev/stanza"
)

// The child elements of <pubsub/> (XEP-0060 §6-§8), decoded from the
// request's raw XML. Attributes that may be absent are pointers. Payloads are
// kept as the raw inner XML of <item/>.
type request struct {
	XMLName xml.Name

	Create         *nodeAttr    `xml:"create"`
	Configure      *configureEl `xml:"configure"`
	Publish        *publishEl   `xml:"publish"`
	PublishOptions *formHolder  `xml:"publish-options"`
	Retract        *retractEl   `xml:"retract"`
	Subscribe      *subscribeEl `xml:"subscribe"`
	Options        *optionsEl   `xml:"options"`
	Unsubscribe    *subscribeEl `xml:"unsubscribe"`
	Items          *itemsEl     `xml:"items"`
	Subscriptions  *listEl      `xml:"subscriptions"`
	Affiliations   *listEl      `xml:"affiliations"`
	Default        *nodeAttr    `xml:"default"`
	Delete         *deleteEl    `xml:"delete"`
	Purge          *nodeAttr    `xml:"purge"`
	children       []string     // local names in document order
}

type nodeAttr struct {
	Node *string `xml:"node,attr"`
}

type formHolder struct {
	Form *form.Form `xml:"jabber:x:data x"`
}

type configureEl struct {
	Node *string    `xml:"node,attr"`
	Form *form.Form `xml:"jabber:x:data x"`
}

type itemEl struct {
	ID    *string `xml:"id,attr"`
	Inner []byte  `xml:",innerxml"`
}

type publishEl struct {
	Node *string  `xml:"node,attr"`
	Item []itemEl `xml:"item"`
}

type retractEl struct {
	Node   *string  `xml:"node,attr"`
	Notify string   `xml:"notify,attr"`
	Item   []itemEl `xml:"item"`
}

type subscribeEl struct {
	Node  *string `xml:"node,attr"`
	JID   string  `xml:"jid,attr"`
	SubID string  `xml:"subid,attr"`
}

type optionsEl struct {
	Node  *string    `xml:"node,attr"`
	JID   string     `xml:"jid,attr"`
	SubID string     `xml:"subid,attr"`
	Form  *form.Form `xml:"jabber:x:data x"`
}

type itemsEl struct {
	Node     *string  `xml:"node,attr"`
	MaxItems string   `xml:"max_items,attr"`
	SubID    string   `xml:"subid,attr"`
	Item     []itemEl `xml:"item"`
}

type entryEl struct {
	Node         string `xml:"node,attr"`
	JID          string `xml:"jid,attr"`
	Subscription string `xml:"subscription,attr"`
	SubID        string `xml:"subid,attr"`
	Affiliation  string `xml:"affiliation,attr"`
}

type listEl struct {
	Node         *string   `xml:"node,attr"`
	Subscription []entryEl `xml:"subscription"`
	Affiliation  []entryEl `xml:"affiliation"`
}

type deleteEl struct {
	Node     *string `xml:"node,attr"`
	Redirect *struct {
		URI string `xml:"uri,attr"`
	} `xml:"redirect"`
}

func (d *deleteEl) redirect() string {
	if d.Redirect == nil {
		return ""
	}
	return d.Redirect.URI
}

// Affiliations of XEP-0060 §4.1.
const (
	AffOwner       = "owner"
	AffPublisher   = "publisher"
	AffPublishOnly = "publish-only"
	AffMember      = "member"
	AffNone        = "none"
	AffOutcast     = "outcast"
)

func validAffiliation(a string) bool {
	switch a {
	case AffOwner, AffPublisher, AffPublishOnly, AffMember, AffNone, AffOutcast:
		return true
	}
	return false
}

func bareOf(s string) string {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i]
	}
	return s
}

// parseRequest decodes a <pubsub/> element (either namespace). Malformed
// input, and forms that break XEP-0004, are bad-request.
func parseRequest(raw []byte) (*request, error) {
	var r request
	if err := xml.Unmarshal(raw, &r); err != nil {
		return nil, badRequest("malformed pubsub request: "+err.Error(), "")
	}
	for _, f := range r.forms() {
		if err := f.Validate(); err != nil {
			return nil, badRequest("bad data form: "+err.Error(), "")
		}
	}
	// Record the children's order: the first one names the action.
	d := xml.NewDecoder(bytes.NewReader(raw))
	depth := 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth == 2 {
				r.children = append(r.children, t.Name.Local)
			}
		case xml.EndElement:
			depth--
		}
	}
	return &r, nil
}

func (r *request) forms() []*form.Form {
	var out []*form.Form
	if r.Configure != nil && r.Configure.Form != nil {
		out = append(out, r.Configure.Form)
	}
	if r.PublishOptions != nil && r.PublishOptions.Form != nil {
		out = append(out, r.PublishOptions.Form)
	}
	if r.Options != nil && r.Options.Form != nil {
		out = append(out, r.Options.Form)
	}
	return out
}

// action is the first child's local name: the operation asked for.
func (r *request) action() string {
	if len(r.children) == 0 {
		return ""
	}
	return r.children[0]
}

func nodeOf(p *string) (string, bool) {
	if p == nil || *p == "" {
		return "", false
	}
	return *p, true
}

// payloadOf checks an item's content: nothing, or exactly one element that
// declares its namespace (XEP-0060 §7.1.3.6: bad-request + invalid-payload
// otherwise). The payload is returned byte for byte, without the whitespace
// around it.
func payloadOf(it *itemEl) (string, error) {
	p := strings.TrimSpace(string(it.Inner))
	if p == "" {
		return "", nil
	}
	if !validPayload(p) {
		return "", badRequest("an item holds one namespaced element", "invalid-payload")
	}
	return p, nil
}

// validPayload reports whether p is one well-formed element that declares
// its namespace.
func validPayload(p string) bool {
	el, err := stanza.ParseElement(p)
	return err == nil && el.Space != ""
}

func parseMaxItemsAttr(v string) (int, error) {
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		return 0, badRequest("max_items must be a positive integer", "")
	}
	return n, nil
}
