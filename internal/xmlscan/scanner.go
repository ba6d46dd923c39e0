package xmlscan

import (
	"bytes"
	"io"
	"sync"
)

const (
	// readChunk is the least free space the scanner keeps for a read once
	// its buffer has grown; the buffer never exceeds the element (or
	// header) limit plus readChunk.
	readChunk  = 16 << 10
	initialBuf = 16 << 10
	minRead    = 2 << 10
	// smallBuf is the size of the scanner's inline buffer: the one it
	// reads into when nothing is buffered, so that a scanner waiting for
	// input (an idle connection) holds no large buffer. It fills the
	// Scanner's allocation size class.
	smallBuf = 768
)

// reasonSecondHeader is the Error.Reason of a top-level element named like
// the stream header.
const reasonSecondHeader = "stream header inside the stream"

// bufPool holds read buffers of initialBuf bytes, returned by scanners
// whose buffer ran empty.
var bufPool = sync.Pool{New: func() any { return new([initialBuf]byte) }}

// A span locates bytes either in the scanner's read buffer (relative to the
// start of the token in progress) or in its private store.
type span struct {
	off, end int32
	src      uint8
}

const (
	srcStore = iota
	srcBuf
)

type attrRec struct {
	name, colon, end int32 // qualified name; colon is -1 without a prefix
	val, valEnd      int32 // raw value
	space            span
}

type binding struct{ pfx, uri span }

type frame struct {
	name, end int32 // qualified name of the open element
	ns        int32 // namespace bindings in scope before it
	def       span  // default namespace in scope before it
	kid       int32 // index in kids when a direct child of the top element, else -1
}

type kidRec struct {
	space           span
	local, localEnd int32
	off, end        int32
}

const (
	phaseProlog = iota
	phaseBody
	phaseClosePending
	phaseDone
)

// Scanner states; each resumes cleanly when more input arrives.
const (
	stTop     = iota // between top-level elements
	stText           // character data inside an element
	stLT             // after '<'
	stSTName         // start tag name
	stSTAttrs        // in a start tag, after the name or a value
	stATName         // attribute name
	stATEq           // after an attribute name, before '='
	stATQuote        // after '=', before the quote
	stATVal          // inside an attribute value
	stSTSlash        // after '/' in a start tag
	stETName         // end tag name
	stETEnd          // after the end tag name
	stCDATA          // inside a CDATA section
)

// Scanner reads an XMPP XML stream (RFC 6120 §4, §11) token by token. It is
// not safe for concurrent use.
type Scanner struct {
	rd       io.Reader
	rerr     error // read error held back until the buffered bytes are used
	err      error // sticky error
	buf      []byte
	lastRead int   // bytes of the last read (see fill)
	mark     int   // start of the token in progress in buf
	w        int   // end of the data in buf
	p        int   // scan position relative to mark
	base     int64 // stream offset of buf[0]
	lim      Limits
	maxBuf   int
	frag     bool

	phase   uint8
	st      uint8
	header  bool // the start tag in progress is the stream header
	atStart bool // nothing consumed yet since Reset (BOM allowed)
	sawWS   bool
	nsWork  bool // the start tag has namespace declarations or prefixed attributes
	quote   byte
	depth   int

	tagStart, nameStart, nameColon, nameEnd int
	attrStart, attrColon                    int
	valStart                                int
	attrs                                   []attrRec
	frames                                  []frame
	ns                                      []binding
	nsKeep                                  int
	defNS                                   span // default namespace in scope
	kids                                    []kidRec

	topName, topColon, topEnd int
	topSpace                  span
	topAttrs                  []attrRec

	store                    []byte
	storePerm, storeKeep     int
	spXMLPfx, spXML, spXMLNS span
	spDefault, hdrName       span
	hdrLocal, hdrSpace       span // the header's local name and namespace

	tok Token

	// Initial backing arrays, so that a new scanner for one small element
	// costs a few allocations rather than one per slice.
	arrAttrs, arrTopAttrs [8]attrRec
	arrFrames             [8]frame
	arrNS                 [8]binding
	arrKids               [8]kidRec
	arrTokAttrs           [8]Attr
	arrChildren           [8]Child
	arrStore              [160]byte
	arrBuf                [smallBuf]byte
}

// New returns a Scanner reading r with the given options. The scanner
// reads from r in large chunks into its own buffer, so r need not be
// buffered.
func New(r io.Reader, opts Options) *Scanner {
	s := &Scanner{lim: opts.Limits.withDefaults(), frag: opts.Fragment}
	s.attrs, s.topAttrs, s.frames = s.arrAttrs[:0], s.arrTopAttrs[:0], s.arrFrames[:0]
	s.ns, s.kids, s.store = s.arrNS[:0], s.arrKids[:0], s.arrStore[:0]
	s.tok.Start.Attrs, s.tok.Children = s.arrTokAttrs[:0], s.arrChildren[:0]
	s.spXMLPfx = s.keep([]byte("xml"))
	s.spXML = s.keep([]byte(NSXML))
	s.spXMLNS = s.keep([]byte(NSXMLNS))
	s.spDefault = s.keep([]byte(opts.DefaultNS))
	s.storePerm = len(s.store)
	s.maxBuf = max(s.lim.MaxElement, s.lim.MaxHeader) + readChunk
	s.Reset(r)
	return s
}

// SetLimits changes the limits for the tokens after the current one (a
// server raises them once its peer has authenticated). Zero fields mean
// the defaults, as in Options.
func (s *Scanner) SetLimits(l Limits) {
	s.lim = l.withDefaults()
	s.maxBuf = max(s.lim.MaxElement, s.lim.MaxHeader) + readChunk
}

func (s *Scanner) keep(b []byte) span {
	off := len(s.store)
	s.store = append(s.store, b...)
	return span{int32(off), int32(len(s.store)), srcStore}
}

// Reset prepares the scanner for a stream restart (RFC 6120 §4.3.3, after
// STARTTLS or SASL): it expects a new stream header (or, in fragment mode,
// elements) and forgets the old namespace context and any error. With a
// non-nil r, buffered bytes are discarded and reading continues from r (use
// this after STARTTLS: nothing sent before the TLS handshake may leak into
// the new stream). With r == nil the scanner keeps its reader and the bytes
// it has already buffered, which then start the new stream.
func (s *Scanner) Reset(r io.Reader) {
	if r != nil {
		s.rd = r
		s.rerr = nil
		s.w, s.mark, s.base = 0, 0, 0
	}
	s.err = nil
	s.p = 0
	s.st = stTop
	s.header = false
	s.atStart = true
	s.depth = 0
	s.frames = s.frames[:0]
	s.kids = s.kids[:0]
	s.store = s.store[:s.storePerm]
	s.storeKeep = s.storePerm
	s.ns = append(s.ns[:0], binding{pfx: s.spXMLPfx, uri: s.spXML})
	s.defNS = span{}
	if s.frag {
		s.ns = append(s.ns, binding{uri: s.spDefault})
		s.defNS = s.spDefault
		s.phase = phaseBody
	} else {
		s.phase = phaseProlog
	}
	s.nsKeep = len(s.ns)
}

// Next returns the next token of the stream. The token and every slice in
// it belong to the scanner and are valid until the next call to Next or
// Reset.
//
// Malformed or forbidden input gives an *Error; after it, and after io.EOF,
// Next keeps returning the same error. io.EOF comes after the KindClose token
// (bytes after the closing tag are never read), or in fragment mode at the
// end of input between elements. The end of input anywhere else gives
// io.ErrUnexpectedEOF (or io.EOF if the stream was empty). Other errors
// from the reader are passed through and are not sticky: calling Next again
// retries the read, so a read deadline can be used for keepalive checks.
func (s *Scanner) Next() (*Token, error) {
	if s.err != nil {
		return nil, s.err
	}
	var t *Token
	var err error
	switch s.phase {
	case phaseDone:
		err = io.EOF
	case phaseClosePending:
		s.phase = phaseDone
		s.tok.Kind, s.tok.Raw = KindClose, nil
		s.tok.Start = Start{Attrs: s.tok.Start.Attrs[:0]}
		s.tok.Children = s.tok.Children[:0]
		return &s.tok, nil
	case phaseProlog:
		err = s.prolog()
		if err == nil {
			t, err = s.run()
		}
	default:
		t, err = s.run()
	}
	if err != nil {
		if _, ok := err.(*Error); ok || err == io.EOF || err == io.ErrUnexpectedEOF {
			s.err = err
		}
		return nil, err
	}
	return t, nil
}

func (s *Scanner) errAt(p int, cond, reason string) error {
	return &Error{Condition: cond, Offset: s.base + int64(s.mark+p), Reason: reason}
}

// fill reads more input for the token starting at mark, which is known to
// be longer than the bytes buffered. limit is the token's size limit.
func (s *Scanner) fill(limit int) error {
	if s.rerr != nil {
		err := s.rerr
		if err != io.EOF {
			s.rerr = nil
		}
		return err
	}
	if s.w-s.mark >= limit {
		return &Error{Condition: CondPolicyViolation, Offset: s.base + int64(s.w),
			Reason: "element larger than the size limit"}
	}
	if s.mark == s.w && s.lastRead < smallBuf {
		// Nothing buffered, and the last read was small: the peer is
		// quiet, and this read may wait long. Give the large buffer back
		// and read into the inline one, which is all a waiting scanner
		// holds. (After a large read more input is likely on its way: the
		// large buffer stays, saving a small read and a copy per chunk.)
		s.base += int64(s.mark)
		s.w, s.mark = 0, 0
		if len(s.buf) != smallBuf {
			s.releaseBuf()
			s.buf = s.arrBuf[:]
		}
	} else if s.mark > 0 {
		n := copy(s.buf, s.buf[s.mark:s.w])
		s.base += int64(s.mark)
		s.w, s.mark = n, 0
	}
	// The inline buffer grows as soon as a token is longer than one read
	// into it; another buffer smaller than initialBuf (sized for an
	// in-memory reader) grows only when full; a larger one keeps minRead
	// bytes free.
	if free := len(s.buf) - s.w; (free == 0 || len(s.buf) == smallBuf && s.w > 0 ||
		free < minRead && len(s.buf) >= initialBuf) && len(s.buf) < s.maxBuf {
		nc := min(max(2*len(s.buf), s.sizeHint()), s.maxBuf)
		var nb []byte
		if nc == initialBuf {
			nb = bufPool.Get().(*[initialBuf]byte)[:]
		} else {
			nb = make([]byte, nc)
		}
		copy(nb, s.buf[:s.w])
		s.releaseBuf()
		s.buf = nb
	}
	for range 100 {
		n, err := s.rd.Read(s.buf[s.w:])
		if n < 0 || n > len(s.buf)-s.w {
			return io.ErrShortBuffer
		}
		s.w += n
		s.lastRead = n
		if err != nil {
			if n > 0 {
				s.rerr = err
				return nil
			}
			if err == io.EOF {
				s.rerr = err
			}
			return err
		}
		if n > 0 {
			return nil
		}
	}
	return io.ErrNoProgress
}

// releaseBuf gives a buffer of initialBuf bytes back to bufPool. The
// caller replaces s.buf; no token may point into it any more.
func (s *Scanner) releaseBuf() {
	if len(s.buf) == initialBuf {
		bufPool.Put((*[initialBuf]byte)(s.buf))
	}
	s.buf = nil
}

// sizeHint is the size of a first buffer: initialBuf, or less for an
// in-memory reader (bytes.Reader, strings.Reader) holding less, so that
// decoding one small element does not allocate a large buffer.
func (s *Scanner) sizeHint() int {
	if l, ok := s.rd.(interface{ Len() int }); ok {
		return min(max(l.Len()+1, 256), initialBuf)
	}
	return initialBuf
}

// prolog consumes an optional byte order mark, whitespace and the XML
// declaration, up to the '<' of the stream header.
func (s *Scanner) prolog() error {
	for {
		b := s.buf[s.mark:s.w]
		p := s.p
		need := false
		switch {
		case p >= len(b):
			need = true
		case s.atStart && (b[0] == 0xEF || b[0] == 0xFE || b[0] == 0xFF || b[0] == 0):
			if len(b) < 3 && b[0] == 0xEF {
				need = true
				break
			}
			if b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
				p = 3
				s.atStart = false
				break
			}
			if b[0] == 0xEF {
				return s.errAt(0, CondNotWellFormed, "unexpected bytes before the stream header")
			}
			return s.errAt(0, CondUnsupportedEncoding, "stream is not UTF-8 (UTF-16 or UTF-32 byte order)")
		case isSpace(b[p]):
			s.atStart = false
			for p < len(b) && isSpace(b[p]) {
				p++
			}
		case b[p] != '<':
			s.atStart = false
			return s.errAt(p, CondNotWellFormed, "character data before the stream header")
		case len(b)-p < 3:
			need = true
		case b[p+1] == '?':
			switch prefixOf(b[p:], "<?xml") {
			case -1:
				return s.errAt(p, CondRestrictedXML, "processing instruction")
			case 0:
				need = true
			}
			if need {
				break
			}
			end := bytes.Index(b[p+2:], []byte("?>"))
			if end < 0 {
				need = true
				break
			}
			pi := b[p+2 : p+2+end]
			if len(pi) < 4 || string(pi[:3]) != "xml" || !isSpace(pi[3]) || !s.atStart && s.decl(p) {
				return s.errAt(p, CondRestrictedXML, "processing instruction")
			}
			if err := s.checkDecl(pi[4:], p); err != nil {
				return err
			}
			s.atStart = false
			p += 2 + end + 2
		case b[p+1] == '!':
			if b[p+2] == '-' || b[p+2] == 'D' {
				return s.errAt(p, CondRestrictedXML, "comment or document type declaration")
			}
			return s.errAt(p, CondNotWellFormed, "unexpected markup before the stream header")
		case b[p+1] == '/':
			return s.errAt(p, CondNotWellFormed, "end tag before the stream header")
		default:
			s.atStart = false
			s.phase = phaseBody
			s.header = true
			s.tagStart = p
			s.p = p + 1
			s.st = stLT
			return nil
		}
		s.p = p
		if need {
			if err := s.fill(s.lim.MaxHeader); err != nil {
				if err == io.EOF {
					if s.base+int64(s.w) == 0 {
						return io.EOF
					}
					return io.ErrUnexpectedEOF
				}
				return err
			}
		}
	}
}

// decl reports whether an XML declaration at p is out of place: it must be
// the first thing in the stream, after at most a byte order mark. Leading
// whitespace is tolerated (some peers send a newline before a restarted
// stream).
func (s *Scanner) decl(p int) bool {
	b := s.buf[s.mark : s.mark+p]
	for _, c := range b {
		if !isSpace(c) && c != 0xEF && c != 0xBB && c != 0xBF {
			return true
		}
	}
	return false
}

// checkDecl checks the body of an XML declaration (XML 1.0 §2.8): version
// 1.0, optional encoding (UTF-8 only, RFC 6120 §11.6), optional standalone.
func (s *Scanner) checkDecl(b []byte, p int) error {
	bad := func(cond, reason string) error { return s.errAt(p, cond, reason) }
	names := [...]string{"version", "encoding", "standalone"}
	next := 0
	for i := 0; ; {
		ws := i == 0
		for i < len(b) && isSpace(b[i]) {
			i++
			ws = true
		}
		if i == len(b) {
			break
		}
		if !ws {
			return bad(CondNotWellFormed, "malformed XML declaration")
		}
		j := i
		for j < len(b) && b[j] >= 'a' && b[j] <= 'z' {
			j++
		}
		name := string(b[i:j])
		for next < len(names) && names[next] != name {
			if next == 0 {
				return bad(CondNotWellFormed, "XML declaration without version")
			}
			next++
		}
		if next == len(names) {
			return bad(CondNotWellFormed, "malformed XML declaration")
		}
		next++
		i = j
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) || b[i] != '=' {
			return bad(CondNotWellFormed, "malformed XML declaration")
		}
		i++
		for i < len(b) && isSpace(b[i]) {
			i++
		}
		if i == len(b) || b[i] != '\'' && b[i] != '"' {
			return bad(CondNotWellFormed, "malformed XML declaration")
		}
		q := b[i]
		i++
		j = bytes.IndexByte(b[i:], q)
		if j < 0 {
			return bad(CondNotWellFormed, "malformed XML declaration")
		}
		v := b[i : i+j]
		i += j + 1
		switch name {
		case "version":
			if len(v) < 3 || string(v[:2]) != "1." || !allDigits(v[2:]) {
				return bad(CondNotWellFormed, "malformed XML version")
			}
			if string(v) != "1.0" {
				return bad(CondRestrictedXML, "XML version other than 1.0")
			}
		case "encoding":
			if !bytes.EqualFold(v, []byte("UTF-8")) {
				return bad(CondUnsupportedEncoding, "encoding other than UTF-8")
			}
		case "standalone":
			if string(v) != "yes" && string(v) != "no" {
				return bad(CondNotWellFormed, "malformed standalone declaration")
			}
		}
	}
	if next == 0 {
		return bad(CondNotWellFormed, "XML declaration without version")
	}
	return nil
}

func allDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

// prefixOf compares b with the literal lit: 1 if b starts with lit, 0 if b is
// a proper prefix of lit (more input needed), -1 otherwise.
func prefixOf(b []byte, lit string) int {
	if len(b) >= len(lit) {
		if string(b[:len(lit)]) == lit {
			return 1
		}
		return -1
	}
	if string(b) == lit[:len(b)] {
		return 0
	}
	return -1
}

// prefixOfBytes is prefixOf with a byte slice literal.
func prefixOfBytes(b, lit []byte) int {
	if len(b) >= len(lit) {
		if bytes.Equal(b[:len(lit)], lit) {
			return 1
		}
		return -1
	}
	if bytes.Equal(b, lit[:len(b)]) {
		return 0
	}
	return -1
}

// nameStartAt checks the first character of a name at b[p]; it returns its
// length, 0 if more input is needed, or an error.
func (s *Scanner) nameStartAt(b []byte, p int) (int, error) {
	c := b[p]
	if nameTab[c]&nameStartBit != 0 {
		return 1, nil
	}
	if c == ':' {
		return 0, s.errAt(p, CondNotWellFormed, "name with an empty prefix")
	}
	if c < 0x80 {
		return 0, s.errAt(p, CondNotWellFormed, "invalid name")
	}
	r, n, cond, reason := decodeChar(b[p:])
	if cond != "" {
		return 0, s.errAt(p, cond, reason)
	}
	if n > 0 && !isNameStartRune(r) {
		return 0, s.errAt(p, CondNotWellFormed, "invalid name")
	}
	return n, nil
}

// nameCharAt checks a non-ASCII name character at b[p], as nameStartAt.
func (s *Scanner) nameCharAt(b []byte, p int) (int, error) {
	r, n, cond, reason := decodeChar(b[p:])
	if cond != "" {
		return 0, s.errAt(p, cond, reason)
	}
	if n > 0 && !isNameRune(r) {
		return 0, s.errAt(p, CondNotWellFormed, "invalid name")
	}
	return n, nil
}

// checkQName checks the colon rules of Namespaces in XML 1.0 §4 for the
// name b[start:end] with its (single) colon at colon.
func (s *Scanner) checkQName(b []byte, colon, end int) error {
	if colon < 0 {
		return nil
	}
	if colon+1 >= end {
		return s.errAt(colon, CondNotWellFormed, "empty local name")
	}
	if n, err := s.nameStartAt(b, colon+1); err != nil || n == 0 {
		return s.errAt(colon+1, CondNotWellFormed, "invalid local name")
	}
	return nil
}

// skip8 returns the position of the first block of eight bytes from p on
// that holds a byte special in tab; callers finish byte by byte. Small
// enough to be inlined.
func skip8(b []byte, p int, tab *[256]uint8) int {
	for ; p+8 <= len(b); p += 8 {
		x := b[p : p+8 : p+8]
		if tab[x[0]]|tab[x[1]]|tab[x[2]]|tab[x[3]]|tab[x[4]]|tab[x[5]]|tab[x[6]]|tab[x[7]] != 0 {
			return p
		}
	}
	return p
}

// scanQName advances over the rest of a qualified name from p, recording
// the position of its colon in *colon. It returns the position after the
// name and done, or done == false when more input is needed (p is then
// where to resume).
func (s *Scanner) scanQName(b []byte, p int, colon *int) (int, bool, error) {
	for {
		for p < len(b) && nameTab[b[p]]&nameCharBit != 0 {
			p++
		}
		if p >= len(b) {
			return p, false, nil
		}
		c := b[p]
		if c >= 0x80 {
			n, err := s.nameCharAt(b, p)
			if err != nil || n == 0 {
				return p, false, err
			}
			p += n
			continue
		}
		if c == ':' {
			if *colon >= 0 {
				return p, false, s.errAt(p, CondNotWellFormed, "more than one colon in a name")
			}
			*colon = p
			p++
			continue
		}
		if *colon >= 0 {
			if err := s.checkQName(b, *colon, p); err != nil {
				return p, false, err
			}
		}
		return p, true, nil
	}
}

// charDataAt handles a special byte b[p] in character data or an attribute
// value: '&' (a reference), non-ASCII, or a C0 control character. It returns
// the bytes consumed, 0 if more input is needed.
func (s *Scanner) charDataAt(b []byte, p int) (int, error) {
	c := b[p]
	if c == '&' {
		_, n, cond, reason := parseRef(b[p:])
		if cond != "" {
			return 0, s.errAt(p, cond, reason)
		}
		return n, nil
	}
	if c >= 0x80 {
		_, n, cond, reason := decodeChar(b[p:])
		if cond != "" {
			return 0, s.errAt(p, cond, reason)
		}
		return n, nil
	}
	return 0, s.errAt(p, CondNotWellFormed, "character not allowed in XML")
}

func (s *Scanner) topTextErr(p int) error {
	if s.frag {
		return s.errAt(p, CondNotWellFormed, "character data outside an element")
	}
	return s.errAt(p, CondBadFormat, "character data between top-level elements")
}

// run scans until a token is complete. It is a state machine written with
// goto: each label is a state, and s.st records the state to resume in
// when more input is needed.
func (s *Scanner) run() (*Token, error) {
	var (
		b    = s.buf[s.mark:s.w]
		p    = s.p
		c    byte
		n    int
		err  error
		t    *Token
		exp  []byte
		done bool
	)
dispatch:
	switch s.st {
	case stTop:
		goto top
	case stText:
		goto text
	case stLT:
		goto lt
	case stSTName:
		goto stname
	case stSTAttrs:
		goto stattrs
	case stATName:
		goto atname
	case stATEq:
		goto ateq
	case stATQuote:
		goto atquote
	case stATVal:
		goto atval
	case stSTSlash:
		goto stslash
	case stETName:
		goto etname
	case stETEnd:
		goto etend
	case stCDATA:
		goto cdata
	}
	panic("xmlscan: invalid state")

top:
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	if p > 0 {
		return s.emitWhitespace(b, p), nil
	}
	if p >= len(b) {
		goto more
	}
	if b[p] != '<' {
		return nil, s.topTextErr(p)
	}
	s.tagStart = 0
	s.store = s.store[:s.storeKeep]
	s.kids = s.kids[:0]
	p = 1
	goto lt

text:
	for p = skip8(b, p, &textTab); p < len(b) && textTab[b[p]] == 0; p++ {
	}
	if p >= len(b) {
		s.st = stText
		goto more
	}
	c = b[p]
	if c == '<' {
		s.tagStart = p
		p++
		goto lt
	}
	if c == '>' {
		if p >= 2 && b[p-1] == ']' && b[p-2] == ']' {
			return nil, s.errAt(p, CondNotWellFormed, "\"]]>\" in character data")
		}
		p++
		goto text
	}
	if n, err = s.charDataAt(b, p); err != nil {
		return nil, err
	}
	if n == 0 {
		s.st = stText
		goto more
	}
	p += n
	goto text

lt:
	if p >= len(b) {
		s.st = stLT
		goto more
	}
	switch b[p] {
	case '/':
		if s.depth == 0 && s.frag || s.header {
			return nil, s.errAt(p, CondNotWellFormed, "end tag without start tag")
		}
		p++
		goto etname
	case '!':
		switch prefixOf(b[s.tagStart:], "<![CDATA[") {
		case 1:
			if s.depth == 0 {
				return nil, s.topTextErr(s.tagStart)
			}
			p = s.tagStart + len("<![CDATA[")
			goto cdata
		case 0:
			s.st = stLT
			goto more
		}
		if len(b)-s.tagStart < 3 {
			s.st = stLT
			goto more
		}
		if c = b[s.tagStart+2]; c == '-' || c == 'D' {
			return nil, s.errAt(s.tagStart, CondRestrictedXML, "comment or document type declaration")
		}
		return nil, s.errAt(s.tagStart, CondNotWellFormed, "invalid markup")
	case '?':
		return nil, s.errAt(s.tagStart, CondRestrictedXML, "processing instruction")
	}
	if nameTab[b[p]]&nameStartBit != 0 {
		n = 1
	} else if n, err = s.nameStartAt(b, p); err != nil {
		return nil, err
	}
	if n == 0 {
		s.st = stLT
		goto more
	}
	p += n
	s.nameStart, s.nameColon = s.tagStart+1, -1
	s.attrs = s.attrs[:0]
	s.nsWork = false
	goto stname

stname:
	// Fast path: an unprefixed ASCII name ending in ASCII.
	for p < len(b) && nameTab[b[p]]&nameCharBit != 0 {
		p++
	}
	if p >= len(b) || b[p] >= 0x80 || b[p] == ':' || s.nameColon >= 0 {
		if p, done, err = s.scanQName(b, p, &s.nameColon); err != nil {
			return nil, err
		}
		if !done {
			s.st = stSTName
			goto more
		}
	}
	s.nameEnd = p
	s.sawWS = false
	goto stattrs

stattrs:
	if p < len(b) && isSpace(b[p]) {
		s.sawWS = true
		for p < len(b) && isSpace(b[p]) {
			p++
		}
	}
	if p >= len(b) {
		s.st = stSTAttrs
		goto more
	}
	c = b[p]
	if c == '>' {
		p++
		if t, err = s.startTagDone(b, p, false); t != nil || err != nil {
			return t, err
		}
		goto text
	}
	if c == '/' {
		p++
		goto stslash
	}
	if !s.sawWS {
		return nil, s.errAt(p, CondNotWellFormed, "missing whitespace before attribute")
	}
	if len(s.attrs) >= s.lim.MaxAttrs {
		return nil, s.errAt(p, CondPolicyViolation, "too many attributes")
	}
	if nameTab[b[p]]&nameStartBit != 0 {
		n = 1
	} else if n, err = s.nameStartAt(b, p); err != nil {
		return nil, err
	}
	if n == 0 {
		s.st = stSTAttrs
		goto more
	}
	s.attrStart, s.attrColon = p, -1
	p += n
	goto atname

atname:
	for p < len(b) && nameTab[b[p]]&nameCharBit != 0 {
		p++
	}
	if p >= len(b) || b[p] >= 0x80 || b[p] == ':' || s.attrColon >= 0 {
		if p, done, err = s.scanQName(b, p, &s.attrColon); err != nil {
			return nil, err
		}
		if !done {
			s.st = stATName
			goto more
		}
	}
	if s.attrColon >= 0 || p-s.attrStart == 5 && string(b[s.attrStart:p]) == "xmlns" {
		s.nsWork = true
	}
	s.attrs = append(s.attrs, attrRec{name: int32(s.attrStart), colon: int32(s.attrColon), end: int32(p)})
	goto ateq

ateq:
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	if p >= len(b) {
		s.st = stATEq
		goto more
	}
	if b[p] != '=' {
		return nil, s.errAt(p, CondNotWellFormed, "expected '=' after attribute name")
	}
	p++
	goto atquote

atquote:
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	if p >= len(b) {
		s.st = stATQuote
		goto more
	}
	if c = b[p]; c != '\'' && c != '"' {
		return nil, s.errAt(p, CondNotWellFormed, "attribute value not quoted")
	}
	s.quote = c
	p++
	s.valStart = p
	goto atval

atval:
	for p = skip8(b, p, &attrTab); p < len(b) && attrTab[b[p]] == 0; p++ {
	}
	if p >= len(b) {
		s.st = stATVal
		goto more
	}
	c = b[p]
	if c == s.quote {
		a := &s.attrs[len(s.attrs)-1]
		a.val, a.valEnd = int32(s.valStart), int32(p)
		p++
		s.sawWS = false
		goto stattrs
	}
	if c == '\'' || c == '"' {
		p++
		goto atval
	}
	if c == '<' {
		return nil, s.errAt(p, CondNotWellFormed, "'<' in attribute value")
	}
	if n, err = s.charDataAt(b, p); err != nil {
		return nil, err
	}
	if n == 0 {
		s.st = stATVal
		goto more
	}
	p += n
	goto atval

stslash:
	if p >= len(b) {
		s.st = stSTSlash
		goto more
	}
	if b[p] != '>' {
		return nil, s.errAt(p, CondNotWellFormed, "expected '>' after '/'")
	}
	p++
	if t, err = s.startTagDone(b, p, true); t != nil || err != nil {
		return t, err
	}
	goto text

etname:
	exp = s.openName(b)
	switch prefixOfBytes(b[p:], exp) {
	case 0:
		s.st = stETName
		goto more
	case -1:
		return nil, s.errAt(s.tagStart, CondNotWellFormed, "end tag does not match start tag")
	}
	p += len(exp)
	goto etend

etend:
	for p < len(b) && isSpace(b[p]) {
		p++
	}
	if p >= len(b) {
		s.st = stETEnd
		goto more
	}
	if b[p] != '>' {
		return nil, s.errAt(s.tagStart, CondNotWellFormed, "end tag does not match start tag")
	}
	p++
	if t, err = s.endTagDone(b, p); t != nil || err != nil {
		return t, err
	}
	goto text

cdata:
	for p < len(b) && cdataTab[b[p]] == 0 {
		p++
	}
	if p >= len(b) {
		s.st = stCDATA
		goto more
	}
	if b[p] == ']' {
		switch prefixOf(b[p:], "]]>") {
		case 1:
			p += 3
			goto text
		case 0:
			s.st = stCDATA
			goto more
		}
		p++
		goto cdata
	}
	if n, err = s.charDataAt(b, p); err != nil {
		return nil, err
	}
	if n == 0 {
		s.st = stCDATA
		goto more
	}
	p += n
	goto cdata

more:
	s.p = p
	if s.header {
		err = s.fill(s.lim.MaxHeader)
	} else {
		err = s.fill(s.lim.MaxElement)
	}
	if err != nil {
		if err == io.EOF {
			if s.st == stTop && s.frag {
				return nil, io.EOF
			}
			return nil, io.ErrUnexpectedEOF
		}
		return nil, err
	}
	b = s.buf[s.mark:s.w]
	goto dispatch
}

// openName returns the qualified name the next end tag must repeat.
func (s *Scanner) openName(b []byte) []byte {
	if s.depth == 0 {
		return s.bytesOf(b, s.hdrName)
	}
	f := &s.frames[len(s.frames)-1]
	return b[f.name:f.end]
}

func (s *Scanner) bytesOf(b []byte, sp span) []byte {
	if sp.src == srcBuf {
		return b[sp.off:sp.end:sp.end]
	}
	return s.store[sp.off:sp.end:sp.end]
}

// lookup resolves a namespace prefix ("" for the default namespace).
func (s *Scanner) lookup(b, pfx []byte) (span, bool) {
	for i := len(s.ns) - 1; i >= 0; i-- {
		if bytes.Equal(s.bytesOf(b, s.ns[i].pfx), pfx) {
			return s.ns[i].uri, true
		}
	}
	return span{}, len(pfx) == 0
}

// startTagDone finishes a start tag ending just before p: namespace
// declarations, name resolution, duplicate attributes (XML 1.0 §3.1,
// Namespaces in XML 1.0 §3-§6). It returns a token when one is complete.
func (s *Scanner) startTagDone(b []byte, p int, empty bool) (*Token, error) {
	limit := s.lim.MaxElement
	if s.header {
		limit = s.lim.MaxHeader
	}
	if p > limit {
		return nil, s.errAt(p, CondPolicyViolation, "element larger than the size limit")
	}
	if !s.header && s.depth+1 > s.lim.MaxDepth {
		return nil, s.errAt(s.tagStart, CondPolicyViolation, "elements nested too deeply")
	}
	nsLen, prevDef := len(s.ns), s.defNS
	space, err := s.resolve(b)
	if err != nil {
		return nil, err
	}
	if s.header {
		return s.emitHeader(b, p, space, nsLen, empty), nil
	}
	local := s.nameStart
	if s.nameColon >= 0 {
		local = s.nameColon + 1
	}
	kid := int32(-1)
	switch s.depth {
	case 0:
		if !s.frag && string(b[local:s.nameEnd]) == string(s.bytesOf(b, s.hdrLocal)) &&
			string(s.bytesOf(b, space)) == string(s.bytesOf(b, s.hdrSpace)) {
			// A second stream header inside the stream (a restart the
			// other side did not ask for): reported at once, not buffered
			// as an element that would swallow every later stanza.
			return nil, s.errAt(s.tagStart, CondBadFormat, reasonSecondHeader)
		}
		s.topName, s.topColon, s.topEnd, s.topSpace = s.nameStart, s.nameColon, s.nameEnd, space
		s.topAttrs = append(s.topAttrs[:0], s.attrs...)
	case 1:
		kid = int32(len(s.kids))
		s.kids = append(s.kids, kidRec{space: space, local: int32(local), localEnd: int32(s.nameEnd),
			off: int32(s.tagStart), end: int32(p)})
	}
	if empty {
		s.ns, s.defNS = s.ns[:nsLen], prevDef
		if s.depth == 0 {
			return s.emitElement(b, p), nil
		}
		s.st = stText
		return nil, nil
	}
	s.frames = append(s.frames, frame{name: int32(s.nameStart), end: int32(s.nameEnd), ns: int32(nsLen), def: prevDef, kid: kid})
	s.depth++
	s.st = stText
	return nil, nil
}

// resolve processes the namespace declarations of the start tag in
// progress and resolves its element and attribute names.
func (s *Scanner) resolve(b []byte) (span, error) {
	if !s.nsWork {
		return s.resolveSimple(b)
	}
	for i := range s.attrs {
		a := &s.attrs[i]
		if b[a.name] != 'x' {
			continue
		}
		isDefault := a.colon < 0 && string(b[a.name:a.end]) == "xmlns"
		if !isDefault && (a.colon < 0 || string(b[a.name:a.colon]) != "xmlns") {
			continue
		}
		uri, err := s.nsURI(b, a)
		if err != nil {
			return span{}, err
		}
		u := s.bytesOf(b, uri)
		isXML, isXMLNS := string(u) == NSXML, string(u) == NSXMLNS
		var pfx span
		if isDefault {
			if isXML || isXMLNS {
				return span{}, s.errAt(int(a.name), CondNotWellFormed, "reserved namespace as default namespace")
			}
		} else {
			pfx = span{a.colon + 1, a.end, srcBuf}
			lp := b[a.colon+1 : a.end]
			if len(u) == 0 {
				return span{}, s.errAt(int(a.name), CondNotWellFormed, "empty namespace name for a prefix")
			}
			if string(lp) == "xmlns" || isXMLNS || (string(lp) == "xml") != isXML {
				return span{}, s.errAt(int(a.name), CondNotWellFormed, "reserved prefix or namespace misused")
			}
		}
		a.space = s.spXMLNS
		s.ns = append(s.ns, binding{pfx: pfx, uri: uri})
		if isDefault {
			s.defNS = uri
		}
	}
	var space span
	var ok bool
	if s.nameColon < 0 {
		space, ok = s.defNS, true
	} else {
		pfx := b[s.nameStart:s.nameColon]
		if string(pfx) == "xmlns" {
			return span{}, s.errAt(s.nameStart, CondNotWellFormed, "element with the xmlns prefix")
		}
		space, ok = s.lookup(b, pfx)
	}
	if !ok {
		return span{}, s.errAt(s.nameStart, CondNotWellFormed, "undeclared namespace prefix")
	}
	for i := range s.attrs {
		a := &s.attrs[i]
		if a.colon >= 0 && string(b[a.name:a.colon]) != "xmlns" {
			a.space, ok = s.lookup(b, b[a.name:a.colon])
			if !ok {
				return span{}, s.errAt(int(a.name), CondNotWellFormed, "undeclared namespace prefix")
			}
		}
		for j := 0; j < i; j++ {
			o := &s.attrs[j]
			if (a.colon < 0) != (o.colon < 0) || a.end-a.name != o.end-o.name && a.colon < 0 {
				continue
			}
			if a.colon < 0 && bytes.Equal(b[a.name:a.end], b[o.name:o.end]) ||
				a.colon >= 0 && bytes.Equal(b[a.colon:a.end], b[o.colon:o.end]) &&
					bytes.Equal(s.bytesOf(b, a.space), s.bytesOf(b, o.space)) {
				return span{}, s.errAt(int(a.name), CondNotWellFormed, "duplicate attribute")
			}
		}
	}
	return space, nil
}

// resolveSimple is resolve for a start tag whose attributes are all
// unprefixed and none of them declares a namespace.
func (s *Scanner) resolveSimple(b []byte) (span, error) {
	var space span
	var ok bool
	if s.nameColon < 0 {
		space, ok = s.defNS, true
	} else {
		pfx := b[s.nameStart:s.nameColon]
		if string(pfx) == "xmlns" {
			return span{}, s.errAt(s.nameStart, CondNotWellFormed, "element with the xmlns prefix")
		}
		space, ok = s.lookup(b, pfx)
	}
	if !ok {
		return span{}, s.errAt(s.nameStart, CondNotWellFormed, "undeclared namespace prefix")
	}
	for i := 1; i < len(s.attrs); i++ {
		a := &s.attrs[i]
		name := b[a.name:a.end]
		for j := 0; j < i; j++ {
			o := &s.attrs[j]
			if o.end-o.name == a.end-a.name && b[o.name] == name[0] && string(b[o.name:o.end]) == string(name) {
				return span{}, s.errAt(int(a.name), CondNotWellFormed, "duplicate attribute")
			}
		}
	}
	return space, nil
}

// nsURI returns the namespace name declared by a, unescaped if needed.
func (s *Scanner) nsURI(b []byte, a *attrRec) (span, error) {
	v := b[a.val:a.valEnd]
	if bytes.IndexByte(v, '&') < 0 {
		return span{a.val, a.valEnd, srcBuf}, nil
	}
	off := len(s.store)
	var err error
	s.store, err = UnescapeAttr(s.store, v)
	if err != nil {
		return span{}, s.errAt(int(a.val), CondNotWellFormed, "malformed namespace name")
	}
	return span{int32(off), int32(len(s.store)), srcStore}, nil
}

func (s *Scanner) fillStart(st *Start, b []byte, name, colon, end int, space span, attrs []attrRec) {
	if colon >= 0 {
		st.Prefix, st.Local = b[name:colon:colon], b[colon+1:end:end]
	} else {
		st.Prefix, st.Local = b[name:name:name], b[name:end:end]
	}
	st.Space = s.bytesOf(b, space)
	st.Attrs = st.Attrs[:0]
	for i := range attrs {
		a := &attrs[i]
		var at Attr
		if a.colon >= 0 {
			at.Prefix, at.Local = b[a.name:a.colon:a.colon], b[a.colon+1:a.end:a.end]
		} else {
			at.Prefix, at.Local = b[a.name:a.name:a.name], b[a.name:a.end:a.end]
		}
		at.Space = s.bytesOf(b, a.space)
		at.Value = b[a.val:a.valEnd:a.valEnd]
		st.Attrs = append(st.Attrs, at)
	}
}

// emitHeader returns the stream header token and makes its namespace
// declarations the context of every top-level element (RFC 6120 §4.8).
func (s *Scanner) emitHeader(b []byte, p int, space span, nsLen int, empty bool) *Token {
	t := &s.tok
	t.Kind = KindHeader
	t.Raw = b[s.tagStart:p:p]
	s.fillStart(&t.Start, b, s.nameStart, s.nameColon, s.nameEnd, space, s.attrs)
	t.Children = t.Children[:0]
	// Move what must outlive the buffer into the store (which already
	// holds any namespace name that had to be unescaped).
	for i := nsLen; i < len(s.ns); i++ {
		bd := &s.ns[i]
		if bd.pfx.src == srcBuf {
			bd.pfx = s.keep(s.bytesOf(b, bd.pfx))
		}
		if bd.uri.src == srcBuf {
			bd.uri = s.keep(s.bytesOf(b, bd.uri))
		}
	}
	s.hdrName = s.keep(b[s.nameStart:s.nameEnd])
	s.hdrLocal = s.hdrName
	if s.nameColon >= 0 {
		s.hdrLocal.off += int32(s.nameColon + 1 - s.nameStart)
	}
	s.hdrSpace = space
	if space.src == srcBuf {
		s.hdrSpace = s.keep(s.bytesOf(b, space))
	}
	s.storeKeep = len(s.store)
	s.nsKeep = len(s.ns)
	s.defNS, _ = s.lookup(b, nil)
	s.header = false
	if empty {
		s.phase = phaseClosePending
	}
	s.advance(p)
	return t
}

func (s *Scanner) endTagDone(b []byte, p int) (*Token, error) {
	if s.depth == 0 {
		t := &s.tok
		t.Kind = KindClose
		t.Raw = b[s.tagStart:p:p]
		t.Start = Start{Attrs: t.Start.Attrs[:0]}
		t.Children = t.Children[:0]
		s.phase = phaseDone
		s.advance(p)
		return t, nil
	}
	f := s.frames[len(s.frames)-1]
	s.frames = s.frames[:len(s.frames)-1]
	s.ns, s.defNS = s.ns[:f.ns], f.def
	s.depth--
	if f.kid >= 0 {
		s.kids[f.kid].end = int32(p)
	}
	if s.depth == 0 {
		if p > s.lim.MaxElement {
			return nil, s.errAt(p, CondPolicyViolation, "element larger than the size limit")
		}
		return s.emitElement(b, p), nil
	}
	s.st = stText
	return nil, nil
}

func (s *Scanner) emitElement(b []byte, p int) *Token {
	t := &s.tok
	t.Kind = KindElement
	t.Raw = b[:p:p]
	s.fillStart(&t.Start, b, s.topName, s.topColon, s.topEnd, s.topSpace, s.topAttrs)
	if cap(t.Children) < len(s.kids) {
		t.Children = make([]Child, len(s.kids), 2*len(s.kids))
	}
	t.Children = t.Children[:len(s.kids)]
	for i := range s.kids {
		k := &s.kids[i]
		t.Children[i] = Child{Space: s.bytesOf(b, k.space),
			Local: b[k.local:k.localEnd:k.localEnd], Off: int(k.off), End: int(k.end)}
	}
	s.advance(p)
	return t
}

func (s *Scanner) emitWhitespace(b []byte, p int) *Token {
	t := &s.tok
	t.Kind = KindWhitespace
	t.Raw = b[:p:p]
	t.Start = Start{Attrs: t.Start.Attrs[:0]}
	t.Children = t.Children[:0]
	s.advance(p)
	return t
}

// advance ends the current token at p: the next one starts there.
func (s *Scanner) advance(p int) {
	s.mark += p
	s.p = 0
	s.st = stTop
	s.atStart = false
}
