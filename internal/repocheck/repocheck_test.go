package repocheck_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/agentlinks/agentlinks/internal/repocheck"
)

// root is the repository's top folder, two levels above this package.
const root = "../.."

func TestNoLargeFileIsTracked(t *testing.T) {
	files, err := repocheck.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(files, "go.mod") {
		t.Fatalf("git ls-files at %s lacks go.mod: %v", root, files)
	}
	large, err := repocheck.Large(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range large {
		t.Errorf("%s is tracked: build output and data over 1 MiB stay out of git (testdata/ excepted); remove it and ignore it in .gitignore", f)
	}
}

func TestLargeFindsBigFilesOutsideTestdata(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, size int) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, make([]byte, size), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("prod-local", repocheck.MaxFileBytes+1)
	write("small", repocheck.MaxFileBytes)
	write("api/testdata/corpus.bin", 2*repocheck.MaxFileBytes)
	write("api/mytestdata/big", 2*repocheck.MaxFileBytes)
	got, err := repocheck.Large(dir, []string{"prod-local", "small", "api/testdata/corpus.bin", "api/mytestdata/big", "deleted"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"prod-local (1048577 bytes)", "api/mytestdata/big (2097152 bytes)"}
	if !slices.Equal(got, want) {
		t.Errorf("Large = %q, want %q", got, want)
	}
}

func TestEveryRelativeLinkResolves(t *testing.T) {
	files, err := repocheck.Files(root)
	if err != nil {
		t.Fatal(err)
	}
	// The fixtures below break links on purpose.
	files = slices.DeleteFunc(files, func(f string) bool { return strings.Contains(f, "testdata/") })
	var md int
	for _, f := range files {
		if strings.HasSuffix(f, ".md") {
			md++
		}
	}
	if md < 2 {
		t.Fatalf("found %d Markdown files among %d tracked", md, len(files))
	}
	broken, err := repocheck.BrokenLinks(root, files)
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range broken {
		t.Error(b)
	}
}

func TestBrokenLinksFindsEachKind(t *testing.T) {
	dir := "testdata/site"
	got, err := repocheck.BrokenLinks(dir, []string{"README.md", "docs/guide.md", "sub/pic.png"})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"README.md: (docs/gone.md) names a file the repository does not have",
		"README.md: (docs/guide.md#missing) names a heading docs/guide.md does not have",
		"README.md: (../../shared/PRODUCT.md) leads outside the repository, which a clone does not have",
		"README.md: (#nothing-here) names a heading README.md does not have",
		"README.md: (docs/ref-gone.md) names a file the repository does not have",
	}
	if !slices.Equal(got, want) {
		t.Errorf("BrokenLinks =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestSlugIsGitHubs(t *testing.T) {
	for heading, want := range map[string]string{
		"Set up in 5 minutes!":               "set-up-in-5-minutes",
		"Stripe Connect (no code)":           "stripe-connect-no-code",
		"`make dev`: the whole stack":        "make-dev-the-whole-stack",
		"Money, the ledger & its invariants": "money-the-ledger--its-invariants",
		"snake_case and Ünïcode":             "snake_case-and-ünïcode",
	} {
		if got := repocheck.Slug(heading); got != want {
			t.Errorf("Slug(%q) = %q, want %q", heading, got, want)
		}
	}
}
