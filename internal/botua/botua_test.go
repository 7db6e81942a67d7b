package botua

import (
	"bufio"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// The corpus of real agents: Is agrees with the pattern on each, bots are
// bots and browsers (and server-side clients) are not.
func TestAgreesOnRealAgents(t *testing.T) {
	f, err := os.Open("testdata/agents.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, ua, ok := strings.Cut(sc.Text(), ": ")
		if !ok || strings.HasPrefix(kind, "#") {
			continue
		}
		n++
		got, want := Is(ua), pattern.MatchString(ua)
		if got != want {
			t.Errorf("Is(%q) = %v, the pattern says %v", ua, got, want)
		}
		if want != (kind == "bot") {
			t.Errorf("%s %q: the pattern says bot=%v", kind, ua, want)
		}
	}
	if n < 100 {
		t.Fatalf("the corpus has %d agents", n)
	}
}

// A million agents built from pieces of real ones, the tokens, and the
// characters around a word boundary, in every case: Is answers as the
// pattern on every one.
func TestAgreesOnGeneratedAgents(t *testing.T) {
	pieces := []string{"Mozilla/5.0 ", "(compatible; ", "AppleWebKit/537.36", "Chrome/131.0", " Safari/537.36", "iPhone; CPU iPhone OS 18_1",
		"bot", "Bot", "BOT", "bot/", "bots", "bot_", "bot1", "bot-", "bot.", "robot", "Botanist", "abbot", "bo", "t",
		"crawl", "Crawler", "spid", "er", "spider", "Slurp", "bingpreview", "preview", "Preview", "facebookexternalhit", "embedly",
		"WhatsApp", "telegram", "Slack", "discord", "pinterest", "vkShare", "skypeuripreview", "Yandex", "baidu", "SemRush",
		"ahrefs", "Lighthouse", "pingdom", "UptimeRobot", "python-requests/0", "python-requests/2", "python-requests/", "0",
		" ", ";", ")", "(", "/", "_", "-", ".", "+", "9", "x", "\t", "é", "K", "ſ"}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 1_000_000; i++ {
		var b strings.Builder
		for k := r.IntN(8); k >= 0; k-- {
			p := pieces[r.IntN(len(pieces))]
			switch r.IntN(3) {
			case 0:
				p = strings.ToUpper(p)
			case 1:
				p = strings.ToLower(p)
			}
			b.WriteString(p)
		}
		ua := b.String()
		if Is(ua) != pattern.MatchString(ua) {
			t.Fatalf("Is(%q) = %v, the pattern says %v", ua, Is(ua), !Is(ua))
		}
	}
	long := strings.Repeat("Mozilla/5.0 ", 60) + "Googlebot/2.1"
	if !Is(long) || Is(strings.Repeat("a", 600)) {
		t.Fatal("agents longer than the buffer")
	}
}

func FuzzAgreesWithPattern(f *testing.F) {
	for _, s := range []string{"Googlebot/2.1", "Mozilla/5.0 (iPhone)", "robot", "bot_", "\u212a", "python-requests/0.1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, ua string) {
		if Is(ua) != pattern.MatchString(ua) {
			t.Fatalf("Is(%q) = %v, the pattern says %v", ua, Is(ua), pattern.MatchString(ua))
		}
	})
}

var sink bool

func BenchmarkIs(b *testing.B) {
	for _, c := range []struct{ name, ua string }{
		{"chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"},
		{"iphone", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1"},
		{"googlebot", "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"},
	} {
		b.Run(c.name+"/tokens", func(b *testing.B) {
			for b.Loop() {
				sink = Is(c.ua)
			}
		})
		b.Run(c.name+"/regexp", func(b *testing.B) {
			for b.Loop() {
				sink = pattern.MatchString(c.ua)
			}
		})
	}
}
