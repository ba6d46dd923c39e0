package disco

import (
	"context"
	"encoding/xml"
	"fmt"

	"xmppkit.dev/form"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/rsm"
	"xmppkit.dev/stanza"
)

type wireIdentity struct {
	Category string `xml:"category,attr"`
	Type     string `xml:"type,attr"`
	Name     string `xml:"name,attr,omitempty"`
	Lang     string `xml:"http://www.w3.org/XML/1998/namespace lang,attr,omitempty"`
}

type wireFeature struct {
	Var string `xml:"var,attr"`
}

type wireInfo struct {
	XMLName    xml.Name       `xml:"http://jabber.org/protocol/disco#info query"`
	Node       string         `xml:"node,attr,omitempty"`
	Identities []wireIdentity `xml:"identity"`
	Features   []wireFeature  `xml:"feature"`
	Forms      []form.Form    `xml:"jabber:x:data x"`
}

type wireItem struct {
	JID  string `xml:"jid,attr"`
	Node string `xml:"node,attr,omitempty"`
	Name string `xml:"name,attr,omitempty"`
}

type wireItems struct {
	XMLName xml.Name   `xml:"http://jabber.org/protocol/disco#items query"`
	Node    string     `xml:"node,attr,omitempty"`
	Items   []wireItem `xml:"item"`
}

func infoToWire(info Info) wireInfo {
	w := wireInfo{Node: info.Node, Forms: info.Forms}
	for _, id := range info.Identities {
		w.Identities = append(w.Identities, wireIdentity(id))
	}
	for _, f := range info.Features {
		w.Features = append(w.Features, wireFeature{f})
	}
	return w
}

// itemsElement is the disco#items <query/> of an answer (XEP-0030 §4.1),
// with the XEP-0059 <set/> of a paged one.
func itemsElement(node string, items []Item, set *rsm.Result) stanza.Element {
	b := stanza.NewBuilder(NSItems, "query").OptAttr("node", node)
	for _, it := range items {
		b.Child("", "item").Attr("jid", it.JID.String()).OptAttr("node", it.Node).OptAttr("name", it.Name).End()
	}
	if set != nil {
		b.Append(set.Element())
	}
	return b.Element()
}

// ParseInfo decodes a disco#info <query/> element (XEP-0030 §3.1) with its
// XEP-0128 forms. Identities without a category or type and features
// without a var are errors (bad-request).
func ParseInfo(raw []byte) (Info, error) {
	var w wireInfo
	if err := xml.Unmarshal(raw, &w); err != nil {
		return Info{}, stanza.NewError(stanza.BadRequest, "disco: bad disco#info query: "+err.Error())
	}
	info := Info{Node: w.Node, Forms: w.Forms}
	for _, id := range w.Identities {
		if id.Category == "" || id.Type == "" {
			return Info{}, stanza.NewError(stanza.BadRequest, "disco: identity without category or type")
		}
		info.Identities = append(info.Identities, Identity(id))
	}
	for _, f := range w.Features {
		if f.Var == "" {
			return Info{}, stanza.NewError(stanza.BadRequest, "disco: feature without var")
		}
		info.Features = append(info.Features, f.Var)
	}
	for i := range info.Forms {
		if err := info.Forms[i].Validate(); err != nil {
			return Info{}, stanza.NewError(stanza.BadRequest, "disco: "+err.Error())
		}
	}
	return info, nil
}

// ParseItems decodes a disco#items <query/> element (XEP-0030 §4.1). An
// item whose jid is missing or invalid is an error (bad-request).
func ParseItems(raw []byte) (node string, items []Item, err error) {
	var w wireItems
	if err := xml.Unmarshal(raw, &w); err != nil {
		return "", nil, stanza.NewError(stanza.BadRequest, "disco: bad disco#items query: "+err.Error())
	}
	for _, it := range w.Items {
		j, err := jid.Parse(it.JID)
		if err != nil {
			return "", nil, stanza.NewError(stanza.BadRequest, fmt.Sprintf("disco: item jid %q: %v", it.JID, err))
		}
		items = append(items, Item{JID: j, Node: it.Node, Name: it.Name})
	}
	return w.Node, items, nil
}

// GetInfo asks the entity at to for its disco#info at the node (XEP-0030
// §3.1). A peer's error comes back as its *stanza.Error.
func GetInfo(ctx context.Context, s mux.Sender, to jid.JID, node string) (Info, error) {
	res, err := query(ctx, s, to, NSInfo, node)
	if err != nil {
		return Info{}, err
	}
	return ParseInfo([]byte(res))
}

// GetItems asks the entity at to for its disco#items at the node (XEP-0030
// §4.1). A peer's error comes back as its *stanza.Error.
func GetItems(ctx context.Context, s mux.Sender, to jid.JID, node string) ([]Item, error) {
	res, err := query(ctx, s, to, NSItems, node)
	if err != nil {
		return nil, err
	}
	_, items, err := ParseItems([]byte(res))
	return items, err
}

// query sends a disco query and returns the raw <query/> of the result.
func query(ctx context.Context, s mux.Sender, to jid.JID, ns, node string) (string, error) {
	q := struct {
		XMLName xml.Name
		Node    string `xml:"node,attr,omitempty"`
	}{XMLName: xml.Name{Space: ns, Local: "query"}, Node: node}
	el, err := stanza.MarshalElement(q)
	if err != nil {
		return "", err
	}
	res, err := s.SendIQ(ctx, stanza.NewIQ(stanza.TypeGet, to, el))
	if err != nil {
		return "", err
	}
	payload, ok := res.Child(ns, "query")
	if !ok {
		return "", stanza.NewError(stanza.BadRequest, "disco: result without <query xmlns='"+ns+"'/>")
	}
	return payload.XML(), nil
}
