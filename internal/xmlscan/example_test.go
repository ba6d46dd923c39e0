package xmlscan_test

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"xmppkit.dev/internal/xmlscan"
)

func Example() {
	in := `<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' ` +
		`xmlns:stream='http://etherx.jabber.org/streams' from='pubsub.localhost' id='42'>` +
		`<message to='pubsub.localhost' id='m1'><body>hi &amp; bye</body></message> ` +
		`</stream:stream>`
	s := xmlscan.New(strings.NewReader(in), xmlscan.Options{})
	for {
		tok, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		switch tok.Kind {
		case xmlscan.KindHeader:
			id, _ := tok.Start.Attr("id")
			fmt.Printf("header {%s}%s id=%s\n", tok.Start.Space, tok.Start.Local, id)
		case xmlscan.KindElement:
			fmt.Printf("element {%s}%s\n", tok.Start.Space, tok.Start.Local)
			for _, c := range tok.Children {
				fmt.Printf("  child %s: %s\n", c.Local, tok.Raw[c.Off:c.End])
			}
		default:
			fmt.Println(tok.Kind)
		}
	}
	// Output:
	// header {http://etherx.jabber.org/streams}stream id=42
	// element {jabber:component:accept}message
	//   child body: <body>hi &amp; bye</body>
	// whitespace
	// close
}

func ExampleScanner_Next_error() {
	s := xmlscan.New(strings.NewReader(`<message><!-- no comments --></message>`),
		xmlscan.Options{Fragment: true, DefaultNS: "jabber:client"})
	_, err := s.Next()
	var xe *xmlscan.Error
	if errors.As(err, &xe) {
		fmt.Println(xe.Condition)
	}
	// Output: restricted-xml
}

func ExampleUnescape() {
	text, err := xmlscan.Unescape(nil, []byte("caf&#xE9; &amp; <![CDATA[<tea>]]>"))
	fmt.Printf("%s %v\n", text, err)
	// Output: café & <tea> <nil>
}

func ExampleAppendEscapedAttr() {
	b := []byte("<message to='")
	b = xmlscan.AppendEscapedAttr(b, `o'brien@example.com`)
	b = append(b, "'><body>"...)
	b = xmlscan.AppendEscapedText(b, "1 < 2 & 3 > 2")
	b = append(b, "</body></message>"...)
	fmt.Println(string(b))
	// Output: <message to='o&apos;brien@example.com'><body>1 &lt; 2 &amp; 3 &gt; 2</body></message>
}
