package service

import (
	"context"
	"fmt"

	"fledge.dev/fledge/api/v1alpha1"
)

// Overview says, for every pipeline or only those named (in that order),
// which deployment production runs and which deployments are under way:
// what a person deciding a release needs at a glance. Each costs a few
// store reads, so a console with many pipelines asks for one page of them.
func (s *Service) Overview(ctx context.Context, pipelineNames ...string) (v1alpha1.Overview, error) {
	names := pipelineNames
	if len(names) > 0 {
		for _, name := range names {
			if _, _, err := s.loadPipeline(ctx, name); err != nil {
				return v1alpha1.Overview{}, err
			}
		}
	} else {
		rows, err := s.store.ListResources(ctx, v1alpha1.KindPipeline)
		if err != nil {
			return v1alpha1.Overview{}, fmt.Errorf("list pipelines: %w", err)
		}
		for _, r := range rows {
			names = append(names, r.Name)
		}
	}
	out := v1alpha1.Overview{Items: make([]v1alpha1.PipelineOverview, 0, len(names))}
	for _, name := range names {
		po := v1alpha1.PipelineOverview{Pipeline: name}
		if id := s.liveID(ctx, name); id != 0 {
			live, err := s.GetDeployment(ctx, id)
			if err != nil {
				return out, fmt.Errorf("overview of pipeline %s: %w", name, err)
			}
			po.Live = &live
		}
		active, err := s.ListDeployments(ctx, ListOptions{Pipeline: name, Statuses: unfinished, Limit: v1alpha1.OverviewActiveLimit})
		if err != nil {
			return out, fmt.Errorf("overview of pipeline %s: %w", name, err)
		}
		po.Active, po.ActiveTotal = active.Items, active.Total
		out.Items = append(out.Items, po)
	}
	return out, nil
}
