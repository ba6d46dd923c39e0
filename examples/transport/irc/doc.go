// Package irc is a small IRC client written with the standard library for the
// XMPP–IRC transport example: the message format of RFC 1459 §2.3.1 and
// RFC 2812 §2.3 with IRCv3 message tags and prefixes (Parse, Message.Bytes),
// connection registration (RFC 2812 §3.1: PASS, NICK, USER, optional CAP
// negotiation) with automatic PING/PONG (§3.7.2, §3.7.3), the numeric replies
// a gateway needs (§5), splitting of long text into lines that the server
// relays whole (Split), and the conversion of IRC text into text that XML can
// carry (Text: formatting codes stripped, control characters removed, invalid
// UTF-8 read as Latin-1).
package irc
