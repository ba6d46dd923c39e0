package form_test

import (
	"encoding/xml"
	"fmt"

	"xmppkit.dev/form"
)

func Example() {
	f := form.Form{Type: form.TypeSubmit}
	f.Set(form.Hidden, form.FormTypeVar, "http://jabber.org/protocol/pubsub#node_config")
	f.Set(form.TextSingle, "pubsub#title", "Princely Musings")
	f.Set(form.Boolean, "pubsub#deliver_payloads", form.FormatBool(true))
	out, _ := xml.Marshal(f)
	fmt.Println(string(out))

	back, err := form.Parse(out)
	if err != nil {
		panic(err)
	}
	deliver, _, _ := back.Bool("pubsub#deliver_payloads")
	title, _ := back.Get("pubsub#title")
	fmt.Println(back.FormType(), title, deliver)
	// Output:
	// <x xmlns="jabber:x:data" type="submit"><field type="hidden" var="FORM_TYPE"><value>http://jabber.org/protocol/pubsub#node_config</value></field><field type="text-single" var="pubsub#title"><value>Princely Musings</value></field><field type="boolean" var="pubsub#deliver_payloads"><value>1</value></field></x>
	// http://jabber.org/protocol/pubsub#node_config Princely Musings true
}
