package bridge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"xmppkit.dev/internal/elem"
	"xmppkit.dev/jid"
	"xmppkit.dev/mux"
	"xmppkit.dev/privilege"
	"xmppkit.dev/stanza"
)

// NSUpload is the namespace of XEP-0363 (HTTP File Upload).
const NSUpload = "urn:xmpp:http:upload:0"

// Upload is one file of the network to make a link for (see Uploader).
type Upload struct {
	User        jid.JID // the user it is for (bare)
	Name        string
	ContentType string
	Size        int64 // exact: the kit buffers a file of unknown size first
	Body        io.Reader
	// Sender sends as the gateway (XEP-0363 slot requests); Privileges
	// asks on the user's behalf where the server grants it.
	Sender     mux.Sender
	Privileges *privilege.Entity
}

// Uploader makes a link the user's clients can fetch for a file of the
// network (Config.Uploader): HTTPUpload puts it on the XMPP server's
// XEP-0363 service, LocalFiles in a directory the gateway serves over HTTP.
// The kit sends the link as a XEP-0066 out-of-band URL with the link as the
// body, the way XEP-0363 clients show files.
type Uploader interface {
	Upload(ctx context.Context, up *Upload) (link string, err error)
}

// uploadOp uploads an attachment and sends its link (on the goroutine of
// Emit, after the text of the message).
func (u *user) uploadOp(a Attachment, id string, from, to jid.JID, typ string, by jid.JID, t time.Time) op {
	return func(ctx context.Context) error {
		g := u.g
		link, err := g.upload(ctx, u.jid, a)
		if err != nil {
			g.log.Warn("bridge: attachment not uploaded", "user", u.jid, "name", a.Name, "err", err)
			note := u.bare(from, to, typ)
			note.ID = id
			note.SetPayloadElements(stanza.TextElement("", "body", "[a file the gateway could not pass on: "+a.Name+": "+err.Error()+"]"))
			return g.send(ctx, note)
		}
		u.mu.Lock()
		st := u.linkMessage(a, link, id, from, to, typ, by, t)
		u.mu.Unlock()
		return g.send(ctx, st)
	}
}

func (g *Gateway) upload(ctx context.Context, user jid.JID, a Attachment) (string, error) {
	rc, err := a.Open(ctx)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	size := a.Size
	var body io.Reader = io.LimitReader(rc, g.cfg.MaxAttachment+1)
	if size <= 0 {
		f, err := os.CreateTemp("", "bridge-upload-*")
		if err != nil {
			return "", err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err := io.Copy(f, body)
		if err != nil {
			return "", err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return "", err
		}
		size, body = n, f
	}
	if size > g.cfg.MaxAttachment {
		return "", fmt.Errorf("the file is larger than %d bytes", g.cfg.MaxAttachment)
	}
	ct := a.ContentType
	if ct == "" {
		ct = mime.TypeByExtension(path.Ext(a.Name))
	}
	if ct == "" {
		ct = "application/octet-stream"
	}
	name := a.Name
	if name == "" {
		name = "file"
	}
	return g.cfg.Uploader.Upload(ctx, &Upload{User: user, Name: name, ContentType: ct, Size: size,
		Body: io.LimitReader(body, size), Sender: g.sender0(), Privileges: g.priv})
}

// fetch GETs a file a user's client linked, bounded by MaxAttachment.
func (g *Gateway) fetch(ctx context.Context, link string) (io.ReadCloser, error) {
	pu, err := url.Parse(link)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
		return nil, fmt.Errorf("bridge: not an http(s) link: %q", link)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("bridge: GET %s: %s", link, resp.Status)
	}
	if resp.ContentLength > g.cfg.MaxAttachment {
		resp.Body.Close()
		return nil, fmt.Errorf("bridge: %s is larger than %d bytes", link, g.cfg.MaxAttachment)
	}
	return &limited{r: io.LimitReader(resp.Body, g.cfg.MaxAttachment+1), c: resp.Body, max: g.cfg.MaxAttachment}, nil
}

// limited fails a read past max bytes instead of cutting the file short.
type limited struct {
	r   io.Reader
	c   io.Closer
	n   int64
	max int64
}

func (l *limited) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	l.n += int64(n)
	if l.n > l.max {
		return n, fmt.Errorf("bridge: the file is larger than %d bytes", l.max)
	}
	return n, err
}

func (l *limited) Close() error { return l.c.Close() }

// LocalFiles is an Uploader that keeps files in a directory and serves them
// over HTTP (it is an http.Handler to mount at BaseURL's path): each file
// gets a random, unguessable name, so a link gives that file only.
type LocalFiles struct {
	// Dir holds the files (created 0700).
	Dir string
	// BaseURL is where the handler is reachable, e.g.
	// "https://gw.example.org/files/"; links are BaseURL + token/name.
	BaseURL string
	// MaxAge, when set, lets the handler refuse files older than it.
	MaxAge time.Duration
}

// Upload writes the file and returns its link.
func (l *LocalFiles) Upload(ctx context.Context, up *Upload) (string, error) {
	if err := os.MkdirAll(l.Dir, 0o700); err != nil {
		return "", err
	}
	var tok [16]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return "", err
	}
	dir := filepath.Join(l.Dir, hex.EncodeToString(tok[:]))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", err
	}
	name := safeName(up.Name)
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", err
	}
	n, err := io.Copy(f, up.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != up.Size {
		err = fmt.Errorf("bridge: wrote %d bytes of %d", n, up.Size)
	}
	if err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return strings.TrimSuffix(l.BaseURL, "/") + "/" + hex.EncodeToString(tok[:]) + "/" + url.PathEscape(name), nil
}

// Describe says how attachments work with LocalFiles, for the report.
func (l *LocalFiles) Describe(privilege.Grants) (bool, string) {
	return true, "files are served by the gateway at " + l.BaseURL + " (XEP-0066 links)"
}

// ServeHTTP serves the files: GET token/name only, nothing listed.
func (l *LocalFiles) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	base, _ := url.Parse(l.BaseURL)
	p := strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(base.Path, "/"))
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	if len(parts) != 2 || len(parts[0]) != 32 || strings.Trim(parts[0], "0123456789abcdef") != "" || parts[1] != safeName(parts[1]) {
		http.NotFound(w, r)
		return
	}
	file := filepath.Join(l.Dir, parts[0], parts[1])
	st, err := os.Stat(file)
	if err != nil || !st.Mode().IsRegular() || (l.MaxAge > 0 && time.Since(st.ModTime()) > l.MaxAge) {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; sandbox")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("inline", map[string]string{"filename": parts[1]}))
	http.ServeFile(w, r, file)
}

// safeName keeps a file name usable as one path segment.
func safeName(name string) string {
	name = path.Base(strings.ReplaceAll(name, "\\", "/"))
	var b strings.Builder
	for _, r := range name {
		if r < 0x20 || r == 0x7f || strings.ContainsRune(`/\:*?"<>|%`, r) {
			r = '_'
		}
		b.WriteRune(r)
	}
	s := strings.Trim(b.String(), ". ")
	if s == "" {
		s = "file"
	}
	if len(s) > 120 {
		s = s[len(s)-120:]
	}
	return s
}

// HTTPUpload is an Uploader that puts files on the XMPP server's XEP-0363
// service: it asks Service for an upload slot, on the user's behalf (a
// XEP-0356 privileged IQ) where the user's server grants the iq privilege
// for urn:xmpp:http:upload:0, else as the gateway (the service must then
// let the gateway's domain upload: Prosody's http_file_share_access,
// ejabberd's mod_http_upload access), and PUTs the file.
type HTTPUpload struct {
	// Service is the upload service's JID (upload.example.org).
	Service jid.JID
	// Client does the PUT; nil means http.DefaultClient.
	Client *http.Client
}

// Describe says how attachments work with HTTPUpload, for the report.
func (h *HTTPUpload) Describe(gr privilege.Grants) (bool, string) {
	if gr.IQAccess(NSUpload).CanGet() {
		return true, "files are uploaded to " + h.Service.String() + " on each user's behalf (XEP-0363 with a XEP-0356 privileged IQ)"
	}
	return true, "files are uploaded to " + h.Service.String() + " by the gateway (XEP-0363; the iq privilege for " + NSUpload + " is not granted, so quotas are the gateway's)"
}

// Upload asks for a slot and PUTs the file.
func (h *HTTPUpload) Upload(ctx context.Context, up *Upload) (string, error) {
	req := stanza.NewIQ(stanza.TypeGet, h.Service, stanza.NewBuilder(NSUpload, "request").
		Attr("filename", up.Name).Attr("size", strconv.FormatInt(up.Size, 10)).Attr("content-type", up.ContentType).Element())
	var res *stanza.Stanza
	var err error
	if up.Privileges != nil && up.Privileges.Grants(up.User.DomainJID()).IQAccess(NSUpload).CanGet() {
		res, err = up.Privileges.SendIQ(ctx, up.Sender, up.User, req)
	} else {
		res, err = up.Sender.SendIQ(ctx, req)
	}
	if err != nil {
		return "", fmt.Errorf("bridge: upload slot: %w", err)
	}
	putURL, getURL, headers, err := parseSlot(res)
	if err != nil {
		return "", err
	}
	put, err := http.NewRequestWithContext(ctx, http.MethodPut, putURL, up.Body)
	if err != nil {
		return "", err
	}
	put.ContentLength = up.Size
	put.Header.Set("Content-Type", up.ContentType)
	for k, v := range headers {
		put.Header.Set(k, v)
	}
	c := h.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(put)
	if err != nil {
		return "", err
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("bridge: PUT %s: %s", putURL, resp.Status)
	}
	return getURL, nil
}

// parseSlot reads a XEP-0363 §4 slot: the put and get URLs and the headers
// allowed on the PUT (Authorization, Cookie, Expires).
func parseSlot(res *stanza.Stanza) (put, get string, headers map[string]string, err error) {
	el, ok := res.Child(NSUpload, "slot")
	if !ok {
		return "", "", nil, errors.New("bridge: upload answer without a slot")
	}
	n, err := elem.Parse(el.XML(), NSUpload)
	if err != nil {
		return "", "", nil, err
	}
	headers = map[string]string{}
	for _, k := range n.Kids {
		kn, err := n.Child(k)
		if err != nil {
			return "", "", nil, err
		}
		switch k.Local {
		case "put":
			put, _, _ = kn.Attr("url")
			for _, hk := range kn.Kids {
				hn, err := kn.Child(hk)
				if err != nil || hk.Local != "header" {
					continue
				}
				name, _, _ := hn.Attr("name")
				v, _ := hn.Text()
				switch name {
				case "Authorization", "Cookie", "Expires": // §4: only these
					headers[name] = strings.NewReplacer("\r", "", "\n", "").Replace(v)
				}
			}
		case "get":
			get, _, _ = kn.Attr("url")
		}
	}
	for _, u := range []string{put, get} {
		if pu, err := url.Parse(u); err != nil || (pu.Scheme != "https" && pu.Scheme != "http") {
			return "", "", nil, fmt.Errorf("bridge: bad slot URL %q", u)
		}
	}
	return put, get, headers, nil
}
