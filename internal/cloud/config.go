package cloud

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Load builds the SDK configuration: the standard chain (environment, shared files, instance
// roles), the region, and, when endpoint is set, a base URL for every client, such as the
// emulator's. AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_<SERVICE> work as the SDK documents.
//
// An empty region leaves it to the SDK's usual chain (AWS_REGION, then the profile's region);
// when that finds none either, Load fails rather than pick one: signing for a region the fleets
// are not in would only fail later, call by call.
func Load(ctx context.Context, region, endpoint string, opts ...func(*config.LoadOptions) error) (aws.Config, error) {
	var all []func(*config.LoadOptions) error
	if region != "" {
		all = append(all, config.WithRegion(region))
	}
	if endpoint != "" {
		all = append(all, config.WithBaseEndpoint(endpoint))
	}
	cfg, err := config.LoadDefaultConfig(ctx, append(all, opts...)...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return aws.Config{}, errors.New("no AWS region: set aws.region in the config, AWS_REGION, or a region in the AWS profile (AWS_PROFILE, ~/.aws/config)")
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
