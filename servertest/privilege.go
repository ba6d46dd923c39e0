package servertest

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
)

// Privileges are the XEP-0356 permissions a server grants one component,
// by the values of the XEP (§3.1, §4.1, §6.1). An empty field grants
// nothing of that kind. Prosody needs prosody-modules (mod_privilege);
// ejabberd has mod_privilege built in but no iq permission.
type Privileges struct {
	// Component is the domain of the component that gets them.
	Component string
	Roster    string // "get", "set" or "both"
	Message   string // "outgoing"
	Presence  string // "managed_entity" or "roster" (Prosody: roster needs Roster get or both)
	// IQ maps namespaces to "get", "set" or "both" (XEP-0356 v0.4
	// privileged IQs; Prosody only: ejabberd 23.01 fails the test).
	IQ map[string]string
}

// Delegation delegates one namespace to a component (XEP-0355 §4.1).
// Prosody needs prosody-modules (mod_delegation). Prosody also accepts the
// XEP-0355 v0.5 pseudo-namespaces for bare JID disco
// ("urn:xmpp:delegation:2:bare:disco#info:*" and
// "urn:xmpp:delegation:2:bare:disco#items:*").
type Delegation struct {
	Namespace string
	Component string
	// Filtering lists attributes the payload element must carry for the
	// server to forward a request (§4.1).
	Filtering []string
}

// prosodyModulesDir is where Debian's prosody-modules installs its
// modules (Prosody's default plugin path, so no plugin_paths is needed).
const prosodyModulesDir = "/usr/lib/prosody/modules"

// missingProsodyModules names the prosody-modules modules that opts needs
// and that are not installed, or returns "".
func missingProsodyModules(opts ProsodyOptions) string {
	var need []string
	if len(opts.Privileges) > 0 {
		need = append(need, "privilege")
	}
	if len(opts.Delegations) > 0 {
		need = append(need, "delegation")
	}
	var missing []string
	for _, m := range need {
		if _, err := os.Stat(fmt.Sprintf("%s/mod_%s/mod_%s.lua", prosodyModulesDir, m, m)); err != nil {
			missing = append(missing, "mod_"+m)
		}
	}
	if len(missing) == 0 {
		return ""
	}
	return strings.Join(missing, ", ") + " (prosody-modules)"
}

// prosodyPrivilegeConfig returns the global modules, the VirtualHost lines
// and, per component domain, the modules to enable in its Component
// section (mod_privilege and mod_delegation must be enabled there too).
func prosodyPrivilegeConfig(opts ProsodyOptions) (modules []string, vhost string, compModules map[string][]string) {
	q := luaQuote
	compModules = map[string][]string{}
	add := func(domain, mod string) {
		if !slices.Contains(compModules[domain], mod) {
			compModules[domain] = append(compModules[domain], mod)
		}
	}
	var b strings.Builder
	if len(opts.Privileges) > 0 {
		modules = append(modules, "privilege")
		b.WriteString("    privileged_entities = {\n")
		for _, p := range opts.Privileges {
			add(p.Component, "privilege")
			fmt.Fprintf(&b, "        [%s] = {\n", q(p.Component))
			for _, kv := range [][2]string{{"roster", p.Roster}, {"message", p.Message}, {"presence", p.Presence}} {
				if kv[1] != "" {
					fmt.Fprintf(&b, "            %s = %s;\n", kv[0], q(kv[1]))
				}
			}
			if len(p.IQ) > 0 {
				b.WriteString("            iq = {\n")
				for _, ns := range slices.Sorted(maps.Keys(p.IQ)) {
					fmt.Fprintf(&b, "                [%s] = %s;\n", q(ns), q(p.IQ[ns]))
				}
				b.WriteString("            };\n")
			}
			b.WriteString("        };\n")
		}
		b.WriteString("    }\n")
	}
	if len(opts.Delegations) > 0 {
		modules = append(modules, "delegation")
		b.WriteString("    delegations = {\n")
		for _, d := range opts.Delegations {
			add(d.Component, "delegation")
			fmt.Fprintf(&b, "        [%s] = { jid = %s", q(d.Namespace), q(d.Component))
			if len(d.Filtering) > 0 {
				b.WriteString("; filtering = {")
				for i, a := range d.Filtering {
					if i > 0 {
						b.WriteString(", ")
					}
					b.WriteString(q(a))
				}
				b.WriteString("}")
			}
			b.WriteString(" };\n")
		}
		b.WriteString("    }\n")
	}
	return modules, b.String(), compModules
}

// ejabberdPrivilegeConfig returns the top-level acl and access_rules and
// the module entries for mod_privilege and mod_delegation, or an error for
// what ejabberd 23.01 cannot grant (the iq permission). Each permission
// type, and each delegated namespace, gets an ACL of the component domains
// it is for and an access rule allowing that ACL.
func ejabberdPrivilegeConfig(opts EjabberdOptions) (top, modules string, err error) {
	if len(opts.Privileges) == 0 && len(opts.Delegations) == 0 {
		return "", "", nil
	}
	q := yamlQuote
	var names []string               // rule names, in order of appearance
	domains := map[string][]string{} // rule name -> component domains
	rule := func(name, domain string) string {
		if _, ok := domains[name]; !ok {
			names = append(names, name)
		}
		if !slices.Contains(domains[name], domain) {
			domains[name] = append(domains[name], domain)
		}
		return name
	}
	perms := map[string]map[string]string{} // option -> type -> rule
	for _, p := range opts.Privileges {
		if len(p.IQ) > 0 {
			return "", "", fmt.Errorf("servertest: ejabberd 23.01 has no iq privilege (component %s)", p.Component)
		}
		for _, kv := range [][2]string{{"roster", p.Roster}, {"message", p.Message}, {"presence", p.Presence}} {
			if kv[1] == "" {
				continue
			}
			if perms[kv[0]] == nil {
				perms[kv[0]] = map[string]string{}
			}
			perms[kv[0]][kv[1]] = rule("priv_"+kv[0]+"_"+kv[1], p.Component)
		}
	}
	delRules := make([]string, len(opts.Delegations))
	for i, d := range opts.Delegations {
		delRules[i] = rule(fmt.Sprintf("deleg_%d", i), d.Component)
	}
	var t, m strings.Builder
	t.WriteString("acl:\n")
	for _, n := range names {
		fmt.Fprintf(&t, "  %s:\n    server:\n", n)
		for _, d := range domains[n] {
			fmt.Fprintf(&t, "      - %s\n", q(d))
		}
	}
	t.WriteString("access_rules:\n")
	for _, n := range names {
		fmt.Fprintf(&t, "  %s:\n    allow: %s\n", n, n)
	}
	if len(perms) > 0 {
		m.WriteString("  mod_privilege:\n")
		for _, opt := range slices.Sorted(maps.Keys(perms)) {
			fmt.Fprintf(&m, "    %s:\n", opt)
			for _, typ := range slices.Sorted(maps.Keys(perms[opt])) {
				fmt.Fprintf(&m, "      %s: %s\n", typ, perms[opt][typ])
			}
		}
	}
	if len(opts.Delegations) > 0 {
		m.WriteString("  mod_delegation:\n    namespaces:\n")
		for i, d := range opts.Delegations {
			fmt.Fprintf(&m, "      %s:\n        access: %s\n", q(d.Namespace), delRules[i])
			if len(d.Filtering) > 0 {
				m.WriteString("        filtering:\n")
				for _, a := range d.Filtering {
					fmt.Fprintf(&m, "          - %s\n", q(a))
				}
			}
		}
	}
	return t.String(), m.String(), nil
}

// skipOrFail skips the test, or fails it when the environment variable CI
// is "true", as Require does for missing software.
func skipOrFail(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func quoteAll(list []string, q func(string) string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = q(s)
	}
	return out
}
