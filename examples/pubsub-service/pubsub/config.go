package pubsub

import (
	"strconv"
	"strings"

	"xmppkit.dev/form"
	"xmppkit.dev/stanza"
)

// Access and publish models (XEP-0060 §4.5, §16.4.3 pubsub#publish_model).
const (
	AccessOpen      = "open"
	AccessWhitelist = "whitelist"

	PublishPublishers  = "publishers"
	PublishSubscribers = "subscribers"
	PublishOpen        = "open"
)

// Form types of XEP-0060 §16.4 (registered FORM_TYPEs).
const (
	FormNodeConfig       = NS + "#node_config"
	FormMetaData         = NS + "#meta-data"
	FormPublishOptions   = NS + "#publish-options"
	FormSubscribeOptions = NS + "#subscribe_options"
)

// MaxItemsLimit caps pubsub#max_items; "max" means this many.
const MaxItemsLimit = 100000

// Config is a node's configuration (XEP-0060 §8.2, the pubsub#node_config
// form). The zero Config is not useful; start from DefaultConfig.
type Config struct {
	Title                string `json:"title,omitempty"`
	Description          string `json:"description,omitempty"`
	MaxItems             int    `json:"max_items"`
	PersistItems         bool   `json:"persist_items"`
	DeliverPayloads      bool   `json:"deliver_payloads"`
	DeliverNotifications bool   `json:"deliver_notifications"`
	NotifyRetract        bool   `json:"notify_retract"`
	NotifyDelete         bool   `json:"notify_delete"`
	NotifyConfig         bool   `json:"notify_config"`
	AccessModel          string `json:"access_model"`
	PublishModel         string `json:"publish_model"`
	NotificationType     string `json:"notification_type"`
}

// DefaultConfig returns the configuration of a new node (XEP-0060 §8.3, the
// answer to a default-configuration request): items persist, up to 256 are
// kept, notifications carry payloads and are sent for retractions, deletion
// and configuration changes, anyone may subscribe, publishers publish, and
// notifications are headline messages.
func DefaultConfig() Config {
	return Config{
		MaxItems:             256,
		PersistItems:         true,
		DeliverPayloads:      true,
		DeliverNotifications: true,
		NotifyRetract:        true,
		NotifyDelete:         true,
		NotifyConfig:         true,
		AccessModel:          AccessOpen,
		PublishModel:         PublishPublishers,
		NotificationType:     stanza.TypeHeadline,
	}
}

// Form returns the configuration as a XEP-0004 form of the given type (form
// for a configure request, result for notifications) with the pubsub#node_config
// FORM_TYPE (XEP-0060 §8.2.1, §16.4.3). Every option is listed, set or not.
func (c Config) Form(typ form.Type) form.Form {
	maxItems := strconv.Itoa(c.MaxItems)
	return form.Form{Type: typ, Fields: []form.Field{
		{Type: form.Hidden, Var: form.FormTypeVar, Values: []string{FormNodeConfig}},
		{Type: form.TextSingle, Var: "pubsub#title", Label: "A friendly name for the node", Values: []string{c.Title}},
		{Type: form.TextSingle, Var: "pubsub#description", Label: "A description of the node", Values: []string{c.Description}},
		{Type: form.TextSingle, Var: "pubsub#max_items", Label: "Max # of items to persist (or max)", Values: []string{maxItems}},
		{Type: form.Boolean, Var: "pubsub#persist_items", Label: "Persist items to storage", Values: []string{form.FormatBool(c.PersistItems)}},
		{Type: form.Boolean, Var: "pubsub#deliver_payloads", Label: "Deliver payloads with event notifications", Values: []string{form.FormatBool(c.DeliverPayloads)}},
		{Type: form.Boolean, Var: "pubsub#deliver_notifications", Label: "Deliver event notifications", Values: []string{form.FormatBool(c.DeliverNotifications)}},
		{Type: form.Boolean, Var: "pubsub#notify_retract", Label: "Notify subscribers when items are removed from the node", Values: []string{form.FormatBool(c.NotifyRetract)}},
		{Type: form.Boolean, Var: "pubsub#notify_delete", Label: "Notify subscribers when the node is deleted", Values: []string{form.FormatBool(c.NotifyDelete)}},
		{Type: form.Boolean, Var: "pubsub#notify_config", Label: "Notify subscribers when the node configuration changes", Values: []string{form.FormatBool(c.NotifyConfig)}},
		{Type: form.ListSingle, Var: "pubsub#access_model", Label: "Who may subscribe and retrieve items", Values: []string{c.AccessModel},
			Options: []form.Option{{Value: AccessOpen}, {Value: AccessWhitelist}}},
		{Type: form.ListSingle, Var: "pubsub#publish_model", Label: "Who may publish items", Values: []string{c.PublishModel},
			Options: []form.Option{{Value: PublishPublishers}, {Value: PublishSubscribers}, {Value: PublishOpen}}},
		{Type: form.ListSingle, Var: "pubsub#notification_type", Label: "Message type of event notifications", Values: []string{c.NotificationType},
			Options: []form.Option{{Value: stanza.TypeNormal}, {Value: stanza.TypeHeadline}}},
	}}
}

// configError is the XEP-0060 §8.2.5.3 answer to an unacceptable option.
func configError(text string) *stanza.Error {
	return stanza.NewError(stanza.NotAcceptable, text)
}

// Merge applies a submitted pubsub#node_config form to c (XEP-0060 §8.2.4):
// only the fields present change, so a partial form keeps the rest. Booleans
// may be 1/0/true/false. An unknown option or a bad value is not-acceptable
// (§8.2.5.3) and leaves c unchanged.
func (c Config) Merge(f *form.Form) (Config, error) {
	if ft := f.FormType(); ft != "" && ft != FormNodeConfig {
		return c, configError("FORM_TYPE must be " + FormNodeConfig)
	}
	n := c
	for i := range f.Fields {
		fl := &f.Fields[i]
		v := fl.Value()
		var err error
		switch fl.Var {
		case form.FormTypeVar, "":
		case "pubsub#title":
			n.Title = v
		case "pubsub#description":
			n.Description = v
		case "pubsub#max_items":
			n.MaxItems, err = parseMaxItems(v)
		case "pubsub#persist_items":
			n.PersistItems, err = form.ParseBool(v)
		case "pubsub#deliver_payloads":
			n.DeliverPayloads, err = form.ParseBool(v)
		case "pubsub#deliver_notifications":
			n.DeliverNotifications, err = form.ParseBool(v)
		case "pubsub#notify_retract":
			n.NotifyRetract, err = form.ParseBool(v)
		case "pubsub#notify_delete":
			n.NotifyDelete, err = form.ParseBool(v)
		case "pubsub#notify_config":
			n.NotifyConfig, err = form.ParseBool(v)
		case "pubsub#access_model":
			if v != AccessOpen && v != AccessWhitelist {
				return c, configError("unsupported access model " + strconv.Quote(v))
			}
			n.AccessModel = v
		case "pubsub#publish_model":
			if v != PublishPublishers && v != PublishSubscribers && v != PublishOpen {
				return c, configError("unsupported publish model " + strconv.Quote(v))
			}
			n.PublishModel = v
		case "pubsub#notification_type":
			if v != stanza.TypeNormal && v != stanza.TypeHeadline {
				return c, configError("notification type must be normal or headline")
			}
			n.NotificationType = v
		default:
			return c, configError("unsupported configuration option " + fl.Var)
		}
		if err != nil {
			return c, configError("bad value for " + fl.Var)
		}
	}
	return n, nil
}

func parseMaxItems(v string) (int, error) {
	if strings.EqualFold(v, "max") {
		return MaxItemsLimit, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n > MaxItemsLimit {
		return 0, strconv.ErrRange
	}
	return n, nil
}

// CheckPublishOptions compares the fields of a pubsub#publish-options form
// with the node's configuration (XEP-0060 §7.1.5): each field must hold the
// value the node has, else the publish fails with conflict +
// <precondition-not-met/>. Options the service does not know fail the same
// way, since they cannot be guaranteed.
func (c Config) CheckPublishOptions(f *form.Form) error {
	if ft := f.FormType(); ft != "" && ft != FormPublishOptions {
		return badRequest("FORM_TYPE must be "+FormPublishOptions, "")
	}
	cur := c.Form(form.TypeResult)
	for i := range f.Fields {
		fl := &f.Fields[i]
		if fl.Var == form.FormTypeVar || fl.Var == "" {
			continue
		}
		have := cur.Field(fl.Var)
		if have == nil || !sameValue(have, fl.Value()) {
			return preconditionNotMet(fl.Var)
		}
	}
	return nil
}

func sameValue(have *form.Field, want string) bool {
	switch have.Type {
	case form.Boolean:
		a, _ := form.ParseBool(have.Value())
		b, err := form.ParseBool(want)
		return err == nil && a == b
	}
	if have.Var == "pubsub#max_items" {
		n, err := parseMaxItems(want)
		return err == nil && strconv.Itoa(n) == have.Value()
	}
	return have.Value() == want
}
