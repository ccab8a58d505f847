package main

import "github.com/deskpilot/deskpilot/internal/iampolicy"

func init() { iamPolicy = iampolicy.PolicyFor }
