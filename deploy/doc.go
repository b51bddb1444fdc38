// Package deploy holds the deployment files of mxwatch and their tests: the
// Alertmanager configuration, the mxwatch configuration and the variables
// (env.example) that docker-compose.yml at the repository root uses.
//
// It has no code. Its tests check docker-compose.yml (parsed directly, and
// rendered by docker-compose when that is installed), the Dockerfile and
// the files here against each other, so that a broken stack fails `go test`
// instead of a deployment. docs/DEPLOY.md is the operator's walkthrough.
package deploy
