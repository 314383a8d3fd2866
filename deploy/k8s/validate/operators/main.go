// Command operators decodes custom resources strictly into their operators' Go API types:
// KEDA (keda.sh/v1alpha1 ScaledObject, TriggerAuthentication) and prometheus-operator
// (monitoring.coreos.com/v1 ServiceMonitor, PodMonitor, PrometheusRule) with the upstream
// types at the versions in go.mod. (CloudNativePG's Cluster is checked by validate.py against
// its published CRD schema: the Go module proxy does not serve CloudNativePG's module.)
//
// Input: a file of JSON lines, one Kubernetes object per line (rendered by kustomize and
// routed here by deploy/k8s/validate/validate.py). Decoding uses
// json.Decoder.DisallowUnknownFields, so an unknown or misspelled field at any depth is an
// error naming it; the fields the operator needs but the types do not enforce (non-omitempty
// tags, +kubebuilder:validation:Required, MinItems) are checked in required.go. Output: one
// line per object, "ok KIND/NAME" or "error KIND/NAME: reason"; exit status 1 when any failed.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
)

type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// A decoder per apiVersion/kind: returns the typed object's problems (strict decode + required).
var kinds = map[string]func([]byte) []string{
	"keda.sh/v1alpha1/ScaledObject": func(raw []byte) []string {
		var o kedav1alpha1.ScaledObject
		return append(decode(raw, &o), scaledObjectRequired(&o)...)
	},
	"keda.sh/v1alpha1/TriggerAuthentication": func(raw []byte) []string {
		var o kedav1alpha1.TriggerAuthentication
		return append(decode(raw, &o), triggerAuthenticationRequired(&o)...)
	},
	"monitoring.coreos.com/v1/ServiceMonitor": func(raw []byte) []string {
		var o monitoringv1.ServiceMonitor
		return append(decode(raw, &o), serviceMonitorRequired(&o)...)
	},
	"monitoring.coreos.com/v1/PodMonitor": func(raw []byte) []string {
		var o monitoringv1.PodMonitor
		return append(decode(raw, &o), podMonitorRequired(&o)...)
	},
	"monitoring.coreos.com/v1/PrometheusRule": func(raw []byte) []string {
		var o monitoringv1.PrometheusRule
		return append(decode(raw, &o), prometheusRuleRequired(&o)...)
	},
}

// decode fails on unknown fields and on trailing data.
func decode(raw []byte, into any) []string {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(into); err != nil {
		return []string{strings.TrimPrefix(err.Error(), "json: ")}
	}
	return nil
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: operators FILE.jsonl")
		os.Exit(2)
	}
	f, err := os.Open(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer f.Close()
	failed := false
	scanner := bufio.NewScanner(f)
	scanner.Buffer(make([]byte, 1<<20), 64<<20)
	for scanner.Scan() {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		var h header
		if err := json.Unmarshal(line, &h); err != nil {
			fmt.Printf("error ?/?: not a JSON object: %v\n", err)
			failed = true
			continue
		}
		id := h.Kind + "/" + h.Metadata.Name
		check, ok := kinds[h.APIVersion+"/"+h.Kind]
		var problems []string
		if !ok {
			problems = []string{fmt.Sprintf("no typed decoder for %s %s", h.APIVersion, h.Kind)}
		} else {
			problems = check(line)
		}
		if h.Metadata.Name == "" {
			problems = append(problems, "field metadata.name: required")
		}
		if len(problems) == 0 {
			fmt.Printf("ok %s\n", id)
			continue
		}
		failed = true
		for _, p := range problems {
			fmt.Printf("error %s: %s\n", id, p)
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
