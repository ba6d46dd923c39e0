package irc_test

import (
	"fmt"

	"xmppkit.dev/examples/transport/irc"
)

func ExampleParse() {
	m, err := irc.Parse(":bob!~bob@127.0.0.1 PRIVMSG #test :hello channel\r\n")
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Nick(), m.Command, m.Param(0), m.Trailing())
	// Output: bob PRIVMSG #test hello channel
}

func ExampleSplit() {
	for _, line := range irc.Split("first line\nsecond, a bit longer line", 16) {
		fmt.Printf("%q\n", line)
	}
	// Output:
	// "first line"
	// "second, a bit "
	// "longer line"
}

func ExampleText() {
	fmt.Println(irc.Text("\x02bold\x02 \x0304red\x03 caf\xe9"))
	// Output: bold red café
}
