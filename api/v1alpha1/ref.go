package v1alpha1

import (
	"fmt"
	"strconv"
	"strings"
)

// DeploymentRef names a deployment either by its id (42) or by its
// pipeline and its number within the pipeline (webpage#6, also written
// webpage/6). Every API route and CLI command that takes a deployment
// accepts both.
type DeploymentRef struct {
	// ID is set when the deployment is named by id.
	ID int64
	// Pipeline and Number are set when it is named as PIPELINE#NUMBER.
	Pipeline string
	Number   int64
}

// String writes the reference as it was given: 42 or webpage#6.
func (r DeploymentRef) String() string {
	if r.Pipeline == "" {
		return strconv.FormatInt(r.ID, 10)
	}
	return r.Pipeline + "#" + strconv.FormatInt(r.Number, 10)
}

// Ref is the PIPELINE#NUMBER form of the deployment, which every command
// accepts.
func (d Deployment) Ref() string {
	return d.Pipeline + "#" + strconv.FormatInt(d.Number, 10)
}

// ParseDeploymentRef reads 42, deployment/42, webpage#6 or webpage/6.
func ParseDeploymentRef(s string) (DeploymentRef, error) {
	v := strings.TrimPrefix(strings.TrimPrefix(s, "deployments/"), "deployment/")
	bad := fmt.Errorf("%q is not a deployment: want its id (42) or PIPELINE#NUMBER (webpage#6)", s)
	sep := strings.LastIndexAny(v, "#/")
	if sep < 0 {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return DeploymentRef{}, bad
		}
		return DeploymentRef{ID: id}, nil
	}
	name, num := v[:sep], v[sep+1:]
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || len(name) > 63 || !dnsLabel.MatchString(name) {
		return DeploymentRef{}, bad
	}
	return DeploymentRef{Pipeline: name, Number: n}, nil
}
