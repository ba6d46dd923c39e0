// Package xmlscan is a streaming scanner for the subset of XML that XMPP
// allows (RFC 6120 §11): UTF-8 only, no DTD, no comments, no processing
// instructions other than a leading XML declaration, no entity references
// other than the five predefined ones and character references.
//
// A Scanner reads an XML stream (RFC 6120 §4) and yields, one at a time, the
// stream header, each top-level element (a stanza or a stream-level element
// such as <stream:features/>) as its exact bytes with the start tag parsed and
// the direct children indexed, whitespace keepalives between elements, and the
// closing </stream:stream>. It checks the well-formedness of every element
// (XML 1.0 and Namespaces in XML 1.0) before handing it out, and enforces
// limits on element size, nesting depth, attribute count and header size while
// reading, so an oversized element is rejected before it is buffered whole.
//
// Errors in the input are reported as *Error values naming the RFC 6120
// §4.9.3 stream error condition to send:
//
//   - not-well-formed: any XML 1.0 / Namespaces in XML 1.0 well-formedness
//     violation, including an undeclared namespace prefix, a malformed
//     reference, characters not allowed in XML (NUL, C0 controls other than
//     tab, CR, LF, U+FFFE, U+FFFF) and "]]>" in character data;
//   - restricted-xml: a DOCTYPE, a comment, a processing instruction (other
//     than the XML declaration at the very start of the stream), a
//     well-formed reference to any entity other than amp, lt, gt, quot and
//     apos (§11.1 forbids such references), or an XML version other than 1.0;
//   - unsupported-encoding: bytes that are not valid UTF-8, a UTF-16 byte
//     order mark, or an XML declaration naming an encoding other than UTF-8
//     (§11.6, §4.9.3.22);
//   - policy-violation: a limit in Limits was exceeded (§4.9.3.14);
//   - bad-format: non-whitespace character data between top-level elements
//     of a stream (well-formed XML, but not an XMPP stream).
//
// CDATA sections are allowed inside elements: RFC 6120 §11.1 does not list
// them among the restricted constructs.
//
// Deliberate leniencies, each harmless to a well-formed stream: a UTF-8 byte
// order mark and whitespace before the XML declaration are accepted; literal
// '>', '"' and "'" in character data are accepted (XML allows them, although
// RFC 6120 §11.1 asks senders to escape them); any root element is accepted
// as the stream header (checking that it is <stream:stream> in the streams
// namespace is the stream layer's job, RFC 6120 §4.8.1).
//
// The scanner never uses encoding/xml; it is a single-pass byte scanner over
// one growable buffer, and allocates nothing per token in the steady state.
// A scanner that has nothing buffered after a small read (a quiet peer)
// gives its large buffer back to a shared pool and waits on a small inline
// one, so an idle connection holds under 4 KiB of scanner state.
package xmlscan
