package sim

import "testing"

func TestStepScalingConfig_Propose(t *testing.T) {
	f64 := func(v float64) *float64 { return &v }
	i32 := func(v int32) *int32 { return &v }
	typ := func(s string) *string { return &s }
	cases := []struct {
		name    string
		cfg     stepScalingConfig
		util    float64
		current int32
		want    int32
		ok      bool
	}{
		{"below every step", stepScalingConfig{AdjustmentType: typ("ChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalLowerBound: f64(75), ScalingAdjustment: i32(2)}}}, 74.9, 4, 0, false},
		{"lower bound inclusive", stepScalingConfig{AdjustmentType: typ("ChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalLowerBound: f64(75), ScalingAdjustment: i32(2)}}}, 75, 4, 6, true},
		{"upper bound exclusive", stepScalingConfig{AdjustmentType: typ("ChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalUpperBound: f64(25), ScalingAdjustment: i32(-1)}}}, 25, 4, 0, false},
		{"second step", stepScalingConfig{AdjustmentType: typ("ChangeInCapacity"), StepAdjustments: []stepAdjustment{
			{MetricIntervalLowerBound: f64(50), MetricIntervalUpperBound: f64(80), ScalingAdjustment: i32(1)},
			{MetricIntervalLowerBound: f64(80), ScalingAdjustment: i32(3)}}}, 90, 4, 7, true},
		{"never below zero", stepScalingConfig{AdjustmentType: typ("ChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalUpperBound: f64(25), ScalingAdjustment: i32(-10)}}}, 0, 4, 0, true},
		{"exact", stepScalingConfig{AdjustmentType: typ("ExactCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalUpperBound: f64(25), ScalingAdjustment: i32(1)}}}, 10, 4, 1, true},
		{"percent truncates toward zero", stepScalingConfig{AdjustmentType: typ("PercentChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalLowerBound: f64(0), ScalingAdjustment: i32(30)}}}, 90, 10, 13, true},
		{"percent below one is one", stepScalingConfig{AdjustmentType: typ("PercentChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalLowerBound: f64(0), ScalingAdjustment: i32(10)}}}, 90, 4, 5, true},
		{"negative percent below one is minus one", stepScalingConfig{AdjustmentType: typ("PercentChangeInCapacity"),
			StepAdjustments: []stepAdjustment{{MetricIntervalUpperBound: f64(25), ScalingAdjustment: i32(-10)}}}, 0, 4, 3, true},
		{"min adjustment magnitude", stepScalingConfig{AdjustmentType: typ("PercentChangeInCapacity"), MinAdjustmentMagnitude: i32(3),
			StepAdjustments: []stepAdjustment{{MetricIntervalUpperBound: f64(25), ScalingAdjustment: i32(-25)}}}, 0, 8, 5, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := c.cfg.propose(c.util, c.current)
			if got != c.want || ok != c.ok {
				t.Errorf("propose(%v, %d) = %d, %v; want %d, %v", c.util, c.current, got, ok, c.want, c.ok)
			}
		})
	}
}
