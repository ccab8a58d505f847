package cloud

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Load builds the SDK configuration: the standard chain (environment, shared files, instance
// roles), the region, and, when endpoint is set, a base URL for every client, such as the
// emulator's. AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> work as the SDK documents.
func Load(ctx context.Context, region, endpoint string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	all := []func(*config.LoadOptions) error{config.WithRegion(region)}
	if endpoint != "" {
		all = append(all, config.WithBaseEndpoint(endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(all, opts...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return cfg, nil
}

// Account returns the AWS account the credentials belong to (STS GetCallerIdentity).
func Account(ctx context.Context, cfg aws.Config) (string, error) {
	out, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return "", wrap("get caller identity", err)
	}
	return aws.ToString(out.Account), nil
}
