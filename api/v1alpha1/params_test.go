package v1alpha1

import "testing"

func TestFormatParameters(t *testing.T) {
	t.Parallel()
	tests := []struct {
		p         map[string]string
		sep       string
		want      string
		described string
	}{
		{p: nil, sep: ",", want: "", described: "no parameters"},
		{p: map[string]string{"IMAGE_TAG": "2.1"}, sep: ",", want: "IMAGE_TAG=2.1", described: "IMAGE_TAG=2.1"},
		{p: map[string]string{"B": "2", "A": "1", "C": "x=y"}, sep: ",", want: "A=1,B=2,C=x=y", described: "A=1, B=2, C=x=y"},
	}
	for _, tt := range tests {
		if got := FormatParameters(tt.p, tt.sep); got != tt.want {
			t.Errorf("FormatParameters(%v) = %q, want %q", tt.p, got, tt.want)
		}
		if got := DescribeParameters(tt.p); got != tt.described {
			t.Errorf("DescribeParameters(%v) = %q, want %q", tt.p, got, tt.described)
		}
	}
}
