package main

// Required fields: what the operators' CRDs require (non-omitempty json tags,
// +kubebuilder:validation:Required / MinLength / MinItems) but a strict decode cannot see,
// because a missing field decodes to its zero value.

import (
	"encoding/json"
	"fmt"
	"github.com/prometheus/prometheus/promql/parser"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func scaledObjectRequired(o *kedav1alpha1.ScaledObject) (problems []string) {
	if o.Spec.ScaleTargetRef == nil || o.Spec.ScaleTargetRef.Name == "" {
		problems = append(problems, "field spec.scaleTargetRef.name: required")
	}
	if len(o.Spec.Triggers) == 0 {
		problems = append(problems, "field spec.triggers: at least one trigger is required")
	}
	for i, t := range o.Spec.Triggers {
		if t.Type == "" {
			problems = append(problems, fmt.Sprintf("field spec.triggers[%d].type: required", i))
		}
		if t.Metadata == nil {
			problems = append(problems, fmt.Sprintf("field spec.triggers[%d].metadata: required", i))
		}
		if t.AuthenticationRef != nil && t.AuthenticationRef.Name == "" {
			problems = append(problems, fmt.Sprintf("field spec.triggers[%d].authenticationRef.name: required", i))
		}
	}
	if o.Spec.MinReplicaCount != nil && o.Spec.MaxReplicaCount != nil && *o.Spec.MinReplicaCount > *o.Spec.MaxReplicaCount {
		problems = append(problems, "field spec.minReplicaCount: greater than spec.maxReplicaCount")
	}
	return problems
}

func triggerAuthenticationRequired(o *kedav1alpha1.TriggerAuthentication) (problems []string) {
	s := o.Spec
	if spec, _ := json.Marshal(s); string(spec) == "{}" {
		problems = append(problems, "field spec: no credential source (secretTargetRef, env, podIdentity, ...)")
	}
	for i, r := range s.SecretTargetRef {
		if r.Parameter == "" || r.Name == "" || r.Key == "" {
			problems = append(problems, fmt.Sprintf("field spec.secretTargetRef[%d]: parameter, name and key are required", i))
		}
	}
	return problems
}

func serviceMonitorRequired(o *monitoringv1.ServiceMonitor) (problems []string) {
	if len(o.Spec.Endpoints) == 0 {
		problems = append(problems, "field spec.endpoints: at least one endpoint is required")
	}
	for i, e := range o.Spec.Endpoints {
		if e.Port == "" && e.TargetPort == nil {
			problems = append(problems, fmt.Sprintf("field spec.endpoints[%d]: port or targetPort is required", i))
		}
	}
	if len(o.Spec.Selector.MatchLabels) == 0 && len(o.Spec.Selector.MatchExpressions) == 0 {
		problems = append(problems, "field spec.selector: empty (would select every Service)")
	}
	return problems
}

func podMonitorRequired(o *monitoringv1.PodMonitor) (problems []string) {
	if len(o.Spec.PodMetricsEndpoints) == 0 {
		problems = append(problems, "field spec.podMetricsEndpoints: at least one endpoint is required")
	}
	if len(o.Spec.Selector.MatchLabels) == 0 && len(o.Spec.Selector.MatchExpressions) == 0 {
		problems = append(problems, "field spec.selector: empty (would select every Pod)")
	}
	return problems
}

func prometheusRuleRequired(o *monitoringv1.PrometheusRule) (problems []string) {
	if len(o.Spec.Groups) == 0 {
		problems = append(problems, "field spec.groups: at least one group is required")
	}
	for i, g := range o.Spec.Groups {
		if g.Name == "" {
			problems = append(problems, fmt.Sprintf("field spec.groups[%d].name: required", i))
		}
		if len(g.Rules) == 0 {
			problems = append(problems, fmt.Sprintf("field spec.groups[%d].rules: at least one rule is required", i))
		}
		for j, r := range g.Rules {
			at := fmt.Sprintf("spec.groups[%d].rules[%d]", i, j)
			if r.Expr.Type == intstr.String && r.Expr.StrVal == "" {
				problems = append(problems, "field "+at+".expr: required")
			} else if _, err := parser.NewParser(parser.Options{}).ParseExpr(r.Expr.String()); err != nil {
				// Prometheus' own PromQL parser: what the operator's webhook and Prometheus run.
				problems = append(problems, "field "+at+".expr: not valid PromQL: "+err.Error())
			}
			if (r.Alert == "") == (r.Record == "") {
				problems = append(problems, "field "+at+": exactly one of alert and record is required")
			}
		}
	}
	return problems
}
