package jid_test

import (
	"errors"
	"fmt"

	"xmppkit.dev/jid"
)

func ExampleParse() {
	j, err := jid.Parse("Juliet@Example.COM/Balcony")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(j)
	fmt.Println(j.Local(), j.Domain(), j.Resource())
	fmt.Println(j.Bare(), j.DomainJID())
	// Output:
	// juliet@example.com/Balcony
	// juliet example.com Balcony
	// juliet@example.com example.com
}

func ExampleParse_errors() {
	_, err := jid.Parse("romeo@example.com/")
	fmt.Println(err)
	fmt.Println(errors.Is(err, jid.ErrEmptyResource))

	var e *jid.Error
	_, err = jid.Parse("a@b@c")
	if errors.As(err, &e) {
		fmt.Println(e.Part, errors.Is(err, jid.ErrInvalidDomain))
	}
	// Output:
	// jid: invalid resourcepart: empty resourcepart
	// true
	// domainpart true
}

func ExampleParse_internationalized() {
	// A-labels become U-labels; full-width letters are mapped.
	j := jid.MustParse("ＪＵＬＩＥＴ@xn--bcher-kva.example")
	fmt.Println(j)
	fmt.Println(j == jid.MustParse("juliet@BÜCHER.example."))
	// Output:
	// juliet@bücher.example
	// true
}

func ExampleNew() {
	j, err := jid.New("Romeo", "example.net", "orchard")
	fmt.Println(j, err)
	// Output: romeo@example.net/orchard <nil>
}

func ExampleJID_WithResource() {
	j := jid.MustParse("juliet@example.com/balcony")
	k, err := j.WithResource("chamber")
	fmt.Println(k, err)
	fmt.Println(j.Bare() == k.Bare())
	// Output:
	// juliet@example.com/chamber <nil>
	// true
}

func ExampleEscape() {
	local := jid.Escape("d'artagnan")
	j, _ := jid.New(local, "musketeers.lit", "")
	fmt.Println(j)
	fmt.Println(jid.Unescape(j.Local()))
	// Output:
	// d\27artagnan@musketeers.lit
	// d'artagnan
}
