package pubsub

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// Access models (XEP-0060 §4.5), publish models (§16.4.4
// pubsub#publish_model), send_last_published_item values (§12.9) and
// itemreply values (§16.4.4).
const (
	AccessOpen      = "open"
	AccessPresence  = "presence"
	AccessRoster    = "roster"
	AccessAuthorize = "authorize"
	AccessWhitelist = "whitelist"

	PublishPublishers  = "publishers"
	PublishSubscribers = "subscribers"
	PublishOpen        = "open"

	SendNever                = "never"
	SendOnSub                = "on_sub"
	SendOnSubAndPresence     = "on_sub_and_presence"
	ItemReplyOwner           = "owner"
	ItemReplyPublisher       = "publisher"
	ItemReplyNone            = "none"
	MaxItemsMax          int = -1 // pubsub#max_items "max": the service's limit
)

// Form types of XEP-0060 §16.4 (registered FORM_TYPEs).
const (
	FormNodeConfig       = NS + "#node_config"
	FormMetaData         = NS + "#meta-data"
	FormPublishOptions   = NS + "#publish-options"
	FormSubscribeOptions = NS + "#subscribe_options"
	FormSubscribeAuth    = NS + "#subscribe_authorization"
)

// Config is a node's configuration: every field of the pubsub#node_config
// FORM_TYPE (XEP-0060 §16.4.4). Fields the service does not apply are kept
// and given back (see the package documentation for what is applied).
// Start from DefaultConfig; the JSON form decodes over the defaults, so a
// stored configuration written before a field existed gets its default.
type Config struct {
	Title                 string   `json:"title,omitempty"`
	Description           string   `json:"description,omitempty"`
	Type                  string   `json:"type,omitempty"`
	Language              string   `json:"language,omitempty"`
	MaxItems              int      `json:"max_items"` // MaxItemsMax for "max"
	MaxPayloadSize        int      `json:"max_payload_size,omitempty"`
	ItemExpire            int      `json:"item_expire,omitempty"` // seconds; 0 never
	PersistItems          bool     `json:"persist_items"`
	DeliverPayloads       bool     `json:"deliver_payloads"`
	DeliverNotifications  bool     `json:"deliver_notifications"`
	NotifyRetract         bool     `json:"notify_retract"`
	NotifyDelete          bool     `json:"notify_delete"`
	NotifyConfig          bool     `json:"notify_config"`
	NotifySub             bool     `json:"notify_sub"`
	PresenceBasedDelivery bool     `json:"presence_based_delivery"`
	PurgeOffline          bool     `json:"purge_offline"`
	Subscribe             bool     `json:"subscribe"`
	TempSub               bool     `json:"tempsub"`
	AccessModel           string   `json:"access_model"`
	RosterGroups          []string `json:"roster_groups_allowed,omitempty"`
	PublishModel          string   `json:"publish_model"`
	NotificationType      string   `json:"notification_type"`
	SendLastPublished     string   `json:"send_last_published_item"`
	ItemReply             string   `json:"itemreply,omitempty"`
	Contact               []string `json:"contact,omitempty"`
	BodyXSLT              string   `json:"body_xslt,omitempty"`
	DataformXSLT          string   `json:"dataform_xslt,omitempty"`
	// Extra keeps the submitted fields that apply to collection nodes
	// (children_*), and x- fields (XEP-0068 §3.4), as submitted.
	Extra map[string][]string `json:"extra,omitempty"`
}

// UnmarshalJSON decodes over DefaultConfig.
func (c *Config) UnmarshalJSON(b []byte) error {
	type plain Config
	p := plain(DefaultConfig())
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// DefaultConfig returns the configuration of a new node (XEP-0060 §8.3):
// items persist, up to 256 are kept, notifications carry payloads and are
// sent for retractions, deletion and configuration changes, anyone may
// subscribe, publishers publish, notifications are headline messages, and
// the last item goes to new subscribers and to available ones
// (on_sub_and_presence, as §12.9 asks of a service with last-published).
func DefaultConfig() Config {
	return Config{
		MaxItems:             256,
		PersistItems:         true,
		DeliverPayloads:      true,
		DeliverNotifications: true,
		NotifyRetract:        true,
		NotifyDelete:         true,
		NotifyConfig:         true,
		Subscribe:            true,
		AccessModel:          AccessOpen,
		PublishModel:         PublishPublishers,
		NotificationType:     stanza.TypeHeadline,
		SendLastPublished:    SendOnSubAndPresence,
	}
}

// PEPConfig is the default configuration of a PEP node (XEP-0163 §4): the
// presence access model, one item, the last one sent to contacts as they
// come online.
func PEPConfig() Config {
	c := DefaultConfig()
	c.AccessModel = AccessPresence
	c.MaxItems = 1
	c.NotifyConfig = false
	return c
}

// configEnv is what a configuration is checked against: the service's
// limits and which access models it can apply.
type configEnv struct {
	maxItems   int      // Limits.MaxItemsPerNode
	maxPayload int      // Limits.MaxItemBytes
	models     []string // access models available
	modelsNote string   // why presence and roster are not, if they are not
	groups     []string // the owner's roster groups, if known
}

func (e configEnv) maxItemsOf(c Config) int {
	if c.MaxItems == MaxItemsMax || c.MaxItems > e.maxItems {
		return e.maxItems
	}
	return c.MaxItems
}

func (e configEnv) maxPayloadOf(c Config) int {
	if c.MaxPayloadSize <= 0 || c.MaxPayloadSize > e.maxPayload {
		return e.maxPayload
	}
	return c.MaxPayloadSize
}

// cfgField is one field of the pubsub#node_config form: how it is shown,
// read and set.
type cfgField struct {
	v     string
	typ   form.FieldType
	label string
	opts  func(configEnv) []form.Option
	get   func(Config) []string
	set   func(*Config, configEnv, []string) error
}

func boolField(v, label string, p func(*Config) *bool) cfgField {
	return cfgField{v: v, typ: form.Boolean, label: label,
		get: func(c Config) []string { return []string{form.FormatBool(*p(&c))} },
		set: func(c *Config, _ configEnv, vals []string) error {
			b, err := form.ParseBool(first(vals))
			*p(c) = b
			return err
		}}
}

func textField(v, label string, p func(*Config) *string) cfgField {
	return cfgField{v: v, typ: form.TextSingle, label: label,
		get: func(c Config) []string { return []string{*p(&c)} },
		set: func(c *Config, _ configEnv, vals []string) error { *p(c) = first(vals); return nil }}
}

func listField(v, label string, p func(*Config) *string, values ...string) cfgField {
	f := textField(v, label, p)
	f.typ = form.ListSingle
	f.opts = func(configEnv) []form.Option { return options(values...) }
	f.set = func(c *Config, _ configEnv, vals []string) error {
		if !slices.Contains(values, first(vals)) {
			return fmt.Errorf("must be one of %s", strings.Join(values, ", "))
		}
		*p(c) = first(vals)
		return nil
	}
	return f
}

func intField(v, label string, p func(*Config) *int, ok func(configEnv, int) error) cfgField {
	return cfgField{v: v, typ: form.TextSingle, label: label,
		get: func(c Config) []string { return []string{strconv.Itoa(*p(&c))} },
		set: func(c *Config, e configEnv, vals []string) error {
			n, err := strconv.Atoi(strings.TrimSpace(first(vals)))
			if err != nil || n < 0 {
				return fmt.Errorf("must be a number of 0 or more")
			}
			if err := ok(e, n); err != nil {
				return err
			}
			*p(c) = n
			return nil
		}}
}

func options(values ...string) []form.Option {
	out := make([]form.Option, len(values))
	for i, v := range values {
		out[i] = form.Option{Value: v}
	}
	return out
}

func first(vals []string) string {
	if len(vals) == 0 {
		return ""
	}
	return vals[0]
}

// configFields lists the fields of XEP-0060 §16.4.4 the form shows, in
// order.
var configFields = []cfgField{
	textField("pubsub#title", "A friendly name for the node", func(c *Config) *string { return &c.Title }),
	textField("pubsub#description", "A description of the node", func(c *Config) *string { return &c.Description }),
	textField("pubsub#type", "The type of node data, usually the namespace of the payload", func(c *Config) *string { return &c.Type }),
	textField("pubsub#language", "The default language of the node", func(c *Config) *string { return &c.Language }),
	{v: "pubsub#max_items", typ: form.TextSingle, label: "Max # of items to persist (or max)",
		get: func(c Config) []string {
			if c.MaxItems == MaxItemsMax {
				return []string{"max"}
			}
			return []string{strconv.Itoa(c.MaxItems)}
		},
		set: func(c *Config, e configEnv, vals []string) error {
			n, err := parseMaxItems(first(vals), e.maxItems)
			c.MaxItems = n
			return err
		}},
	intField("pubsub#max_payload_size", "The maximum payload size in bytes (0: the service's)", func(c *Config) *int { return &c.MaxPayloadSize },
		func(e configEnv, n int) error {
			if n > e.maxPayload {
				return fmt.Errorf("the service takes payloads of at most %d bytes", e.maxPayload)
			}
			return nil
		}),
	intField("pubsub#item_expire", "Number of seconds after which to automatically purge items (0: never)", func(c *Config) *int { return &c.ItemExpire },
		func(configEnv, int) error { return nil }),
	boolField("pubsub#persist_items", "Persist items to storage", func(c *Config) *bool { return &c.PersistItems }),
	boolField("pubsub#deliver_notifications", "Deliver event notifications", func(c *Config) *bool { return &c.DeliverNotifications }),
	boolField("pubsub#deliver_payloads", "Deliver payloads with event notifications", func(c *Config) *bool { return &c.DeliverPayloads }),
	boolField("pubsub#notify_config", "Notify subscribers when the node configuration changes", func(c *Config) *bool { return &c.NotifyConfig }),
	boolField("pubsub#notify_delete", "Notify subscribers when the node is deleted", func(c *Config) *bool { return &c.NotifyDelete }),
	boolField("pubsub#notify_retract", "Notify subscribers when items are removed from the node", func(c *Config) *bool { return &c.NotifyRetract }),
	boolField("pubsub#notify_sub", "Notify owners about new subscribers and unsubscribes", func(c *Config) *bool { return &c.NotifySub }),
	boolField("pubsub#presence_based_delivery", "Deliver notifications to available users only (stored, not applied)", func(c *Config) *bool { return &c.PresenceBasedDelivery }),
	boolField("pubsub#purge_offline", "Purge all items when the publisher goes offline (stored, not applied)", func(c *Config) *bool { return &c.PurgeOffline }),
	boolField("pubsub#subscribe", "Whether to allow subscriptions", func(c *Config) *bool { return &c.Subscribe }),
	boolField("pubsub#tempsub", "Make all subscriptions temporary, based on subscriber presence (stored, not applied)", func(c *Config) *bool { return &c.TempSub }),
	{v: "pubsub#access_model", typ: form.ListSingle, label: "Who may subscribe and retrieve items",
		opts: func(e configEnv) []form.Option { return options(e.models...) },
		get:  func(c Config) []string { return []string{c.AccessModel} },
		set: func(c *Config, e configEnv, vals []string) error {
			v := first(vals)
			switch {
			case slices.Contains(e.models, v):
			case v == AccessPresence || v == AccessRoster:
				return fmt.Errorf("%s is not available here: %s", v, e.modelsNote)
			default:
				return fmt.Errorf("must be one of %s", strings.Join(e.models, ", "))
			}
			c.AccessModel = v
			return nil
		}},
	{v: "pubsub#roster_groups_allowed", typ: form.ListMulti, label: "Roster groups allowed to subscribe and retrieve items (roster access model)",
		opts: func(e configEnv) []form.Option { return options(e.groups...) },
		get:  func(c Config) []string { return c.RosterGroups },
		set:  func(c *Config, _ configEnv, vals []string) error { c.RosterGroups = slices.Clone(vals); return nil }},
	listField("pubsub#publish_model", "Who may publish items", func(c *Config) *string { return &c.PublishModel }, PublishPublishers, PublishSubscribers, PublishOpen),
	listField("pubsub#notification_type", "Message type of event notifications", func(c *Config) *string { return &c.NotificationType }, stanza.TypeNormal, stanza.TypeHeadline),
	listField("pubsub#send_last_published_item", "When to send the last published item", func(c *Config) *string { return &c.SendLastPublished }, SendNever, SendOnSub, SendOnSubAndPresence),
	{v: "pubsub#itemreply", typ: form.ListSingle, label: "Whose JID to give as the publisher of items",
		opts: func(configEnv) []form.Option { return options(ItemReplyOwner, ItemReplyPublisher, ItemReplyNone) },
		get: func(c Config) []string {
			if c.ItemReply == "" {
				return []string{ItemReplyNone}
			}
			return []string{c.ItemReply}
		},
		set: func(c *Config, _ configEnv, vals []string) error {
			switch v := first(vals); v {
			case ItemReplyOwner, ItemReplyPublisher:
				c.ItemReply = v
			case ItemReplyNone, "":
				c.ItemReply = ""
			default:
				return fmt.Errorf("must be owner, publisher or none")
			}
			return nil
		}},
	{v: "pubsub#contact", typ: form.JIDMulti, label: "The JIDs of those to contact with questions",
		get: func(c Config) []string { return c.Contact },
		set: func(c *Config, _ configEnv, vals []string) error {
			out := make([]string, 0, len(vals))
			for _, v := range vals {
				j, err := jid.Parse(v)
				if err != nil {
					return fmt.Errorf("%q is not a JID", v)
				}
				out = append(out, j.String())
			}
			c.Contact = out
			return nil
		}},
	{v: "pubsub#node_type", typ: form.ListSingle, label: "Whether the node is a leaf or a collection",
		opts: func(configEnv) []form.Option { return options("leaf") },
		get:  func(Config) []string { return []string{"leaf"} },
		set: func(_ *Config, _ configEnv, vals []string) error {
			if v := first(vals); v != "leaf" && v != "" {
				return errCollections
			}
			return nil
		}},
	textField("pubsub#body_xslt", "The URL of an XSL transformation for message bodies (stored, not applied)", func(c *Config) *string { return &c.BodyXSLT }),
	textField("pubsub#dataform_xslt", "The URL of an XSL transformation into data forms (stored, not applied)", func(c *Config) *string { return &c.DataformXSLT }),
}

// errCollections is returned by a field's set for what only collection
// nodes have (XEP-0248): feature-not-implemented, not not-acceptable.
var errCollections = unsupported("collections")

// collectionFields are the registered fields for collection nodes: kept
// in Extra on a leaf node, except pubsub#collection, which would make the
// node a child of one.
var collectionFields = []string{
	"pubsub#children_association_policy", "pubsub#children_association_whitelist",
	"pubsub#children", "pubsub#children_max",
}

func fieldByVar(v string) *cfgField {
	for i := range configFields {
		if configFields[i].v == v {
			return &configFields[i]
		}
	}
	return nil
}

// Form returns the configuration as a XEP-0004 form of the given type
// (form for a configure request, result for notifications) with the
// pubsub#node_config FORM_TYPE (XEP-0060 §8.2.1, §16.4.4), every field
// listed. The access models offered are those of env.
func (c Config) form(typ form.Type, env configEnv) *form.Form {
	f := &form.Form{Type: typ, Fields: []form.Field{{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormNodeConfig}}}}
	for _, fd := range configFields {
		fl := form.Field{Type: fd.typ, Var: fd.v, Label: fd.label, Values: fd.get(c)}
		if fd.opts != nil && typ == form.TypeForm {
			fl.Options = fd.opts(env)
		}
		if fd.v == "pubsub#access_model" && env.modelsNote != "" && typ == form.TypeForm {
			fl.Desc = env.modelsNote
		}
		if fd.v == "pubsub#roster_groups_allowed" && len(fl.Options) == 0 {
			fl.Type = form.TextMulti
		}
		f.Fields = append(f.Fields, fl)
	}
	return f
}

// Form returns the configuration as a form with every access model
// offered and the default limits (for a caller outside a Service).
func (c Config) Form(typ form.Type) *form.Form { return c.form(typ, defaultEnv()) }

// defaultEnv is the default limits with every access model.
func defaultEnv() configEnv {
	return configEnv{maxItems: DefaultLimits().MaxItemsPerNode, maxPayload: DefaultLimits().MaxItemBytes,
		models: []string{AccessOpen, AccessPresence, AccessRoster, AccessAuthorize, AccessWhitelist}}
}

// merge applies a submitted pubsub#node_config form to c (XEP-0060 §8.2.4):
// only the fields present change, so a partial form keeps the rest.
// Booleans may be 1/0/true/false. A value the service cannot take is
// not-acceptable with a text naming the field (§8.2.5.3), what belongs to
// collection nodes feature-not-implemented; c is then unchanged. Fields
// starting with x- (XEP-0068 §3.4) are kept as they are.
func (c Config) merge(f *form.Form, env configEnv) (Config, error) {
	if ft := f.FormType(); ft != "" && ft != FormNodeConfig {
		return c, stanza.NewError(stanza.NotAcceptable, "FORM_TYPE must be "+FormNodeConfig)
	}
	n := c
	n.RosterGroups, n.Contact = slices.Clone(c.RosterGroups), slices.Clone(c.Contact)
	if c.Extra != nil {
		n.Extra = cloneExtra(c.Extra)
	}
	for i := range f.Fields {
		fl := &f.Fields[i]
		switch {
		case fl.Var == form.FormTypeVar || fl.Var == "":
			continue
		case fl.Var == "pubsub#collection":
			if len(fl.Values) > 0 && fl.Values[0] != "" {
				return c, errCollections
			}
			continue
		case slices.Contains(collectionFields, fl.Var) || strings.HasPrefix(fl.Var, "x-"):
			if n.Extra == nil {
				n.Extra = map[string][]string{}
			}
			n.Extra[fl.Var] = slices.Clone(fl.Values)
			continue
		}
		fd := fieldByVar(fl.Var)
		if fd == nil {
			return c, stanza.NewError(stanza.NotAcceptable, "unknown configuration field "+fl.Var)
		}
		if err := fd.set(&n, env, fl.Values); err != nil {
			if se, ok := err.(*stanza.Error); ok {
				return c, se
			}
			return c, stanza.NewError(stanza.NotAcceptable, fl.Var+": "+err.Error())
		}
	}
	if n.AccessModel == AccessRoster && len(n.RosterGroups) == 0 && c.AccessModel != AccessRoster && fieldSubmitted(f, "pubsub#roster_groups_allowed") {
		return c, stanza.NewError(stanza.NotAcceptable, "the roster access model needs pubsub#roster_groups_allowed")
	}
	return n, nil
}

func cloneExtra(m map[string][]string) map[string][]string {
	out := make(map[string][]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func fieldSubmitted(f *form.Form, v string) bool { return f.Field(v) != nil }

func parseMaxItems(v string, limit int) (int, error) {
	v = strings.TrimSpace(v)
	if strings.EqualFold(v, "max") {
		return MaxItemsMax, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("must be a number of 0 or more, or max")
	}
	if n > limit {
		return 0, fmt.Errorf("the service keeps at most %d items per node (or max)", limit)
	}
	return n, nil
}

// checkPublishOptions compares the fields of a pubsub#publish-options form
// with the node's configuration (XEP-0060 §7.1.5): each field must hold the
// value the node has, else the publish fails with conflict +
// <precondition-not-met/>. A field the configuration form does not have
// cannot be guaranteed and fails the same way.
func (c Config) checkPublishOptions(f *form.Form, env configEnv) error {
	if ft := f.FormType(); ft != "" && ft != FormPublishOptions {
		return badRequest("FORM_TYPE must be "+FormPublishOptions, "")
	}
	for i := range f.Fields {
		fl := &f.Fields[i]
		if fl.Var == form.FormTypeVar || fl.Var == "" {
			continue
		}
		fd := fieldByVar(fl.Var)
		if fd == nil {
			return preconditionNotMet(fl.Var)
		}
		// The node matches when setting the option would change nothing.
		want := c
		if err := fd.set(&want, env, fl.Values); err != nil || !slices.Equal(fd.get(want), fd.get(c)) {
			if fl.Var == "pubsub#max_items" && err == nil && env.maxItemsOf(want) == env.maxItemsOf(c) {
				continue
			}
			return preconditionNotMet(fl.Var)
		}
	}
	return nil
}

// SubOptions are a subscription's options (XEP-0060 §6.3, the
// pubsub#subscribe_options FORM_TYPE, §16.4.2). Deliver is applied; the
// others are kept and given back.
type SubOptions struct {
	Deliver         bool     `json:"deliver"`
	Digest          bool     `json:"digest,omitempty"`
	DigestFrequency int      `json:"digest_frequency,omitempty"`
	Expire          string   `json:"expire,omitempty"`
	IncludeBody     bool     `json:"include_body,omitempty"`
	ShowValues      []string `json:"show_values,omitempty"`
	Type            string   `json:"subscription_type,omitempty"`
	Depth           string   `json:"subscription_depth,omitempty"`
}

// DefaultSubOptions are the options of a subscription made without any:
// notifications delivered.
func DefaultSubOptions() SubOptions { return SubOptions{Deliver: true} }

// UnmarshalJSON decodes over DefaultSubOptions.
func (o *SubOptions) UnmarshalJSON(b []byte) error {
	type plain SubOptions
	p := plain(DefaultSubOptions())
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	*o = SubOptions(p)
	return nil
}

var showValues = []string{"away", "chat", "dnd", "online", "xa"}

// form returns the options as a pubsub#subscribe_options form.
func (o SubOptions) form() *form.Form {
	show := form.Field{Type: form.ListMulti, Var: "pubsub#show-values", Label: "The presence states for which to receive notifications (stored, not applied)",
		Values: o.ShowValues, Options: options(showValues...)}
	return &form.Form{Type: form.TypeForm, Fields: []form.Field{
		{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormSubscribeOptions}},
		{Type: form.Boolean, Var: "pubsub#deliver", Label: "Enable delivery?", Values: []string{form.FormatBool(o.Deliver)}},
		{Type: form.Boolean, Var: "pubsub#digest", Label: "Receive digests of notifications (stored, not applied)", Values: []string{form.FormatBool(o.Digest)}},
		{Type: form.TextSingle, Var: "pubsub#digest_frequency", Label: "Milliseconds between digests", Values: []string{strconv.Itoa(o.DigestFrequency)}},
		{Type: form.TextSingle, Var: "pubsub#expire", Label: "When the subscription ends (stored, not applied)", Values: []string{o.Expire}},
		{Type: form.Boolean, Var: "pubsub#include_body", Label: "Receive a message body with the payload (stored, not applied)", Values: []string{form.FormatBool(o.IncludeBody)}},
		show,
	}}
}

// mergeSubOptions applies a submitted pubsub#subscribe_options form
// (XEP-0060 §6.3.5): a bad value or an unknown field is bad-request with
// <invalid-options/> (§6.3.7).
func (o SubOptions) merge(f *form.Form) (SubOptions, error) {
	if ft := f.FormType(); ft != "" && ft != FormSubscribeOptions {
		return o, badRequest("FORM_TYPE must be "+FormSubscribeOptions, "invalid-options")
	}
	n := o
	for i := range f.Fields {
		fl := &f.Fields[i]
		v := fl.Value()
		var err error
		switch fl.Var {
		case form.FormTypeVar, "":
		case "pubsub#deliver":
			n.Deliver, err = form.ParseBool(v)
		case "pubsub#digest":
			n.Digest, err = form.ParseBool(v)
		case "pubsub#digest_frequency":
			n.DigestFrequency, err = strconv.Atoi(strings.TrimSpace(v))
			if err == nil && n.DigestFrequency < 0 {
				err = strconv.ErrRange
			}
		case "pubsub#expire":
			n.Expire = v
		case "pubsub#include_body":
			n.IncludeBody, err = form.ParseBool(v)
		case "pubsub#show-values":
			for _, s := range fl.Values {
				if !slices.Contains(showValues, s) {
					err = strconv.ErrSyntax
				}
			}
			n.ShowValues = slices.Clone(fl.Values)
		case "pubsub#subscription_type":
			if v != "items" && v != "nodes" && v != "" {
				err = strconv.ErrSyntax
			}
			n.Type = v
		case "pubsub#subscription_depth":
			if v != "1" && v != "all" && v != "" {
				err = strconv.ErrSyntax
			}
			n.Depth = v
		default:
			return o, badRequest("unknown subscription option "+fl.Var, "invalid-options")
		}
		if err != nil {
			return o, badRequest("bad value for "+fl.Var, "invalid-options")
		}
	}
	return n, nil
}
