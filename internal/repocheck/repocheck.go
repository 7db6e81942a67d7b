// Package repocheck holds the checks the repository keeps on itself, which
// make check runs: no build output or other large file is committed, and
// every relative link in its Markdown leads to a file (and heading) that a
// clone of the repository has.
package repocheck

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"unicode"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/text"
)

// MaxFileBytes is the largest tracked file allowed outside a testdata/
// folder: anything bigger is build output or data that every clone would
// download for good.
const MaxFileBytes = 1 << 20

// Files lists the files git tracks under root, and those it would add (new
// and not ignored), so that a file is checked before it is committed;
// relative to root, with '/' separators.
func Files(root string) ([]string, error) {
	cmd := exec.Command("git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("git ls-files in %s (the checks need a git clone): %w", root, err)
	}
	var files []string
	for f := range bytes.SplitSeq(out, []byte{0}) {
		if len(f) > 0 {
			files = append(files, string(f))
		}
	}
	return files, nil
}

// Large returns "path (N bytes)" for each of files over MaxFileBytes that
// is not under a testdata/ folder. A tracked file deleted from the work
// tree is not counted.
func Large(root string, files []string) ([]string, error) {
	var large []string
	for _, f := range files {
		if slices.Contains(strings.Split(path.Dir(f), "/"), "testdata") {
			continue
		}
		st, err := os.Lstat(filepath.Join(root, filepath.FromSlash(f)))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if st.Size() > MaxFileBytes {
			large = append(large, fmt.Sprintf("%s (%d bytes)", f, st.Size()))
		}
	}
	return large, nil
}

// BrokenLinks reads each Markdown file of files (paths relative to root)
// and returns one line for every relative link whose target is missing,
// lies outside root, or names a heading its file lacks. Links with a
// scheme (https:, mailto:) are not followed.
func BrokenLinks(root string, files []string) ([]string, error) {
	var broken []string
	anchors := map[string]map[string]bool{} // file → its heading slugs
	headings := func(f string) (map[string]bool, error) {
		if a, ok := anchors[f]; ok {
			return a, nil
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		_, a := parse(src)
		anchors[f] = a
		return a, nil
	}
	for _, f := range files {
		if !strings.HasSuffix(f, ".md") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(f)))
		if err != nil {
			return nil, err
		}
		links, _ := parse(src)
		for _, dest := range links {
			if problem := check(root, f, dest, headings); problem != "" {
				broken = append(broken, fmt.Sprintf("%s: (%s) %s", f, dest, problem))
			}
		}
	}
	return broken, nil
}

func check(root, from, dest string, headings func(string) (map[string]bool, error)) string {
	u, err := url.Parse(dest)
	if err != nil {
		return "is not a valid address: " + err.Error()
	}
	if u.Scheme != "" || u.Host != "" {
		return ""
	}
	target := from
	if u.Path != "" {
		if strings.HasPrefix(u.Path, "/") {
			target = path.Clean(strings.TrimPrefix(u.Path, "/"))
		} else {
			target = path.Join(path.Dir(from), u.Path)
		}
		if target == ".." || strings.HasPrefix(target, "../") {
			return "leads outside the repository, which a clone does not have"
		}
		st, err := os.Stat(filepath.Join(root, filepath.FromSlash(target)))
		if err != nil {
			return "names a file the repository does not have"
		}
		if st.IsDir() {
			target = ""
		}
	}
	if u.Fragment == "" || !strings.HasSuffix(target, ".md") {
		return ""
	}
	a, err := headings(target)
	if err != nil {
		return err.Error()
	}
	if !a[u.Fragment] {
		return fmt.Sprintf("names a heading %s does not have", target)
	}
	return ""
}

var markdown = goldmark.New(goldmark.WithExtensions(extension.GFM))

// parse returns the destinations of a Markdown document's links and images
// (code blocks and spans hold none), and the anchors of its headings as
// GitHub makes them.
func parse(src []byte) (links []string, anchors map[string]bool) {
	doc := markdown.Parser().Parse(text.NewReader(src))
	anchors = map[string]bool{}
	seen := map[string]int{}
	_ = ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			links = append(links, string(n.Destination))
		case *ast.Image:
			links = append(links, string(n.Destination))
		case *ast.Heading:
			s := Slug(plain(n, src))
			if k := seen[s]; k > 0 {
				anchors[fmt.Sprintf("%s-%d", s, k)] = true
			} else {
				anchors[s] = true
			}
			seen[s]++
		}
		return ast.WalkContinue, nil
	})
	return links, anchors
}

// plain is a node's text without its markup.
func plain(n ast.Node, src []byte) string {
	var b strings.Builder
	_ = ast.Walk(n, func(c ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch c := c.(type) {
		case *ast.Text:
			b.Write(c.Segment.Value(src))
		case *ast.String:
			b.Write(c.Value)
		}
		return ast.WalkContinue, nil
	})
	return b.String()
}

// Slug is the anchor GitHub gives a heading: lower case, every character
// but letters, digits, '_', '-' and spaces dropped, spaces made hyphens.
func Slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
