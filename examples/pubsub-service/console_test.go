package main

import (
	"context"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"xmppkit.dev/examples/pubsub-service/pubsub"
	"xmppkit.dev/jid"
	"xmppkit.dev/stanza"
)

// chromium returns the path of the Chromium the console test drives
// (Debian's package chromium; scripts/deps.sh installs it): a missing one
// fails under CI=true and skips otherwise.
func chromium(t *testing.T) string {
	for _, p := range []string{"/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/deps.sh installs it)")
	}
	t.Skip("chromium is not installed: apt-get install chromium (or run scripts/deps.sh)")
	return ""
}

// browser starts headless Chromium with the flags that work on a machine
// without a network or a display, and returns a tab's context.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // as root in CI
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1400, 820),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(cancelT)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// TestConsoleInChromium (issue 19): the developer console in a real
// browser. The page lists the sessions; a message sent through the router
// appears in the live log, pretty-printed, its markup shown as text and
// not run; the filter hides it. XMPPKIT_CONSOLE_SCREENSHOT=path writes a
// screenshot (the README's).
func TestConsoleInChromium(t *testing.T) {
	ctx := browser(t)
	console := freeAddr(t)
	cfg, err := parseConfig([]string{"-memory", "-listen", "127.0.0.1:0", "-metrics", "", "-console", console}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	cfg.stderr = io.Discard
	addr, stop := runInProcess(t, cfg)
	defer stop()

	if err := chromedp.Do(ctx,
		chromedp.Navigate("http://"+console+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#status.live`)),
		chromedp.WaitVisible(chromedp.Search(`//ul[@id="peers-service"]/li[contains(., "pubsub.localhost")]`)),
	); err != nil {
		t.Fatalf("loading the console: %v", err)
	}

	c := login(t, addr, "laptop")
	if err := c.Send(ctxT(t), stanza.NewPresence("", jid.JID{})); err != nil {
		t.Fatal(err)
	}
	for _, req := range []stanza.Element{
		pubsub.CreateRequest("weather", nil),
		pubsub.SubscribeRequest("weather", jid.MustParse("dev@localhost/laptop")),
		pubsub.PublishRequest("weather", "today", stanza.TextElement("urn:example:weather", "forecast", "sunny, 21 °C"), nil),
	} {
		if _, err := do(ctxT(t), c, stanza.TypeSet, req); err != nil {
			t.Fatal(err)
		}
	}
	m := stanza.NewMessage(stanza.TypeChat, jid.MustParse("pubsub.localhost"), "<script>window.pwned=1</script> hello console & all")
	m.ID = "console-1"
	if err := c.Send(ctxT(t), m); err != nil {
		t.Fatal(err)
	}
	entry := `//li[contains(@class,"entry")][.//span[@class="note" and .="id console-1"]]`
	if err := chromedp.Do(ctx,
		chromedp.WaitVisible(chromedp.Search(`//ul[@id="peers-client"]/li[contains(., "dev@localhost/laptop")]`)),
		chromedp.WaitVisible(chromedp.Search(entry)),
	); err != nil {
		t.Fatalf("the message did not appear: %v", err)
	}
	pre, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.evaluate('`+entry+`//pre', document, null, 9, null).singleNodeValue.textContent`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(pre, "<message ") || !strings.Contains(pre, "\n  <body>&lt;script&gt;window.pwned=1&lt;/script&gt; hello console &amp; all</body>") {
		t.Errorf("the stanza is not shown pretty-printed and escaped:\n%s", pre)
	}
	if pwned, err := chromedp.Run(ctx, chromedp.Evaluate[string](`typeof window.pwned`)); err != nil || pwned != "undefined" {
		t.Errorf("the stanza's script ran in the console (window.pwned is %s, %v)", pwned, err)
	}
	peers, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('sessions').textContent`))
	if err != nil || !strings.Contains(peers, "pubsub.localhost") || !strings.Contains(peers, "dev@localhost/laptop") {
		t.Errorf("sessions: %q, %v", peers, err)
	}

	if path := os.Getenv("XMPPKIT_CONSOLE_SCREENSHOT"); path != "" {
		if err := chromedp.Do(ctx, chromedp.Sleep(300*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// The filter: only presence hides the message; its id shows it alone.
	isHidden := `document.evaluate('` + entry + `', document, null, 9, null).singleNodeValue.classList.contains('hidden')`
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#filter`), "kind:presence"), chromedp.Sleep(200*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if hidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](isHidden)); err != nil || !hidden {
		t.Errorf("kind:presence does not hide the message (%v)", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`document.getElementById('filter').value = ''`),
		chromedp.SendKeys(chromedp.CSS(`#filter`), "id:console-1 from:dev@localhost"),
		chromedp.Sleep(200*time.Millisecond),
	); err != nil {
		t.Fatal(err)
	}
	if alone, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!(`+isHidden+`) && document.querySelectorAll('li.entry:not(.hidden)').length === 1`)); err != nil || !alone {
		t.Errorf("id:console-1 from:dev@localhost does not show the message alone (%v)", err)
	}
}
