package registry

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/nanoedge/nanoedge/sdk/outbound"

	registryv1 "github.com/nanoedge/nanoedge/proto/nanoedge/registry/v1"
	"github.com/nanoedge/nanoedge/sdk/digest"
)

var (
	nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)
	hostRE = regexp.MustCompile(`^(\*\.)?[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

func checkDigest(want string, wasm []byte) error {
	if got := digest.Of(wasm); got != want {
		return fmt.Errorf("%w: digest %s does not match content %s", ErrInvalid, want, got)
	}
	return nil
}

// ValidateName checks a module, key or token name.
func ValidateName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("%w: module name %q: use 1-63 of a-z 0-9 . _ -, starting with a letter or digit", ErrInvalid, name)
	}
	return nil
}

func validateRoute(host, pathPrefix string) error {
	if err := LimitHost.Check(host); err != nil {
		return err
	}
	if host != "" && !hostRE.MatchString(host) {
		return fmt.Errorf("%w: route host %q: want a lowercase host name without port, or empty for any host", ErrInvalid, host)
	}
	if err := LimitPathPrefix.Check(pathPrefix); err != nil {
		return err
	}
	if !strings.HasPrefix(pathPrefix, "/") {
		return fmt.Errorf("%w: route path prefix %q must start with /", ErrInvalid, pathPrefix)
	}
	if strings.ContainsAny(pathPrefix, "?#\\") || strings.ContainsFunc(pathPrefix, func(r rune) bool { return r <= ' ' || r == 0x7f }) || !utf8.ValidString(pathPrefix) {
		return fmt.Errorf("%w: route path prefix %q has characters a path cannot hold", ErrInvalid, pathPrefix)
	}
	for _, seg := range strings.Split(pathPrefix, "/") {
		if seg == ".." || seg == "." {
			return fmt.Errorf("%w: route path prefix %q has a %q segment; requests are matched on cleaned paths", ErrInvalid, pathPrefix, seg)
		}
	}
	if strings.HasPrefix(pathPrefix+"/", "/.nanoedge/") {
		return fmt.Errorf("%w: route path prefix %q: paths under /.nanoedge/ belong to the worker", ErrInvalid, pathPrefix)
	}
	return nil
}

func validateSticky(key string) error {
	if err := LimitStickyKey.Check(key); err != nil {
		return err
	}
	kind, name, _ := strings.Cut(key, ":")
	switch {
	case key == "" || key == "ip":
		return nil
	case (kind == "header" || kind == "cookie") && tokenRE.MatchString(name):
		return nil
	}
	return fmt.Errorf("%w: sticky key %q: want header:<name>, cookie:<name> (an HTTP token) or ip", ErrInvalid, key)
}

func validateRule(r *registryv1.RuleSpec) error {
	if err := LimitRuleName.Check(r.Name); err != nil {
		return err
	}
	switch r.Kind {
	case registryv1.MatchKind_MATCH_KIND_HEADER, registryv1.MatchKind_MATCH_KIND_COOKIE:
		if !tokenRE.MatchString(r.Name) {
			return fmt.Errorf("%w: a %v rule needs a name that is an HTTP token, not %q", ErrInvalid, r.Kind, r.Name)
		}
	case registryv1.MatchKind_MATCH_KIND_QUERY:
		if r.Name == "" || strings.ContainsFunc(r.Name, func(c rune) bool { return c < ' ' || c == 0x7f }) || !utf8.ValidString(r.Name) {
			return fmt.Errorf("%w: a query rule needs a printable parameter name, not %q", ErrInvalid, r.Name)
		}
	case registryv1.MatchKind_MATCH_KIND_USER_AGENT:
	case registryv1.MatchKind_MATCH_KIND_FLAG:
		if err := validateFlagName(r.Name); err != nil {
			return err
		}
		if r.Pattern != "" {
			return fmt.Errorf("%w: a flag rule takes no pattern: it matches while flag %q is enabled", ErrInvalid, r.Name)
		}
	default:
		return fmt.Errorf("%w: rule kind %v: want header, cookie, query, user_agent or flag", ErrInvalid, r.Kind)
	}
	if err := LimitRulePattern.Check(r.Pattern); err != nil {
		return err
	}
	if _, err := regexp.Compile(r.Pattern); err != nil {
		return fmt.Errorf("%w: rule pattern: %v", ErrInvalid, err)
	}
	return nil
}

var (
	originRE = regexp.MustCompile(`^https?://[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[0-9]{1,5})?$`)
	tokenRE  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$") // RFC 9110 token
)

func validateOutbound(o *registryv1.OutboundPolicy) error {
	if o == nil {
		return nil
	}
	if err := LimitOutboundList.CheckCount(len(o.Allow)); err != nil {
		return err
	}
	for _, p := range o.Allow {
		if err := LimitOutboundEntry.Check(p); err != nil {
			return err
		}
		if _, err := outbound.Parse(p); err != nil {
			return fmt.Errorf("%w: %v", ErrInvalid, err)
		}
	}
	if o.MaxCalls < 0 || o.MaxResponseBytes < 0 {
		return fmt.Errorf("%w: outbound limits must not be negative", ErrInvalid)
	}
	return nil
}

func validateCors(c *registryv1.CorsPolicy) error {
	if c == nil {
		return nil
	}
	if len(c.AllowOrigins) == 0 {
		return fmt.Errorf("%w: a CORS policy needs at least one allowed origin", ErrInvalid)
	}
	for _, list := range [][]string{c.AllowOrigins, c.AllowMethods, c.AllowHeaders, c.ExposeHeaders} {
		if err := LimitCorsList.CheckCount(len(list)); err != nil {
			return err
		}
		for _, v := range list {
			if err := LimitCorsEntry.Check(v); err != nil {
				return err
			}
		}
	}
	for _, o := range c.AllowOrigins {
		if o == "*" {
			if c.AllowCredentials {
				return fmt.Errorf("%w: CORS: credentials cannot be allowed for the \"*\" origin; list the origins", ErrInvalid)
			}
			continue
		}
		if !originRE.MatchString(o) {
			return fmt.Errorf("%w: CORS origin %q: want scheme://host[:port] in lowercase, or *", ErrInvalid, o)
		}
	}
	for _, list := range [][]string{c.AllowMethods, c.AllowHeaders, c.ExposeHeaders} {
		for _, v := range list {
			if !tokenRE.MatchString(v) {
				return fmt.Errorf("%w: CORS: %q is not a method or header name", ErrInvalid, v)
			}
		}
	}
	if c.MaxAgeSeconds < 0 || c.MaxAgeSeconds > 86400 {
		return fmt.Errorf("%w: CORS max age must be 0 to 86400 seconds", ErrInvalid)
	}
	return nil
}
