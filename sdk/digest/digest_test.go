package digest_test

import (
	"fmt"
	"testing"

	"github.com/nanoedge/nanoedge/sdk/digest"
)

func ExampleOf() {
	fmt.Println(digest.Of([]byte("\x00asm")))
	// Output: sha256:cd5d4935a48c0672cb06407bb443bc0087aff947c6b864bac886982c73b3027f
}

func TestValid(t *testing.T) {
	for d, want := range map[string]bool{
		digest.Of(nil):                       true,
		"sha256:" + "ab":                     false,
		"sha256:" + string(make([]byte, 64)): false,
		"SHA256:" + digest.Of(nil)[7:]:       false,
		digest.Of(nil) + "0":                 false,
	} {
		if got := digest.Valid(d); got != want {
			t.Errorf("Valid(%q) = %v, want %v", d, got, want)
		}
	}
}
