/**
 * The built-in plugins. Each lives in its own folder and uses only the public plugin API
 * (`src/pipeline/plugin.ts`, re-exported from `tollgate`). Add one import and one list entry per plugin.
 */
import type { PluginDefinition } from '../pipeline/plugin.ts';
import acl from './acl/index.ts';
import awsLambda from './aws-lambda/index.ts';
import azureFunctions from './azure-functions/index.ts';
import basicAuth from './basic-auth/index.ts';
import botDetection from './bot-detection/index.ts';
import correlationId from './correlation-id/index.ts';
import cors from './cors/index.ts';
import datadog from './datadog/index.ts';
import fileLog from './file-log/index.ts';
import grpcGateway from './grpc-gateway/index.ts';
import grpcWeb from './grpc-web/index.ts';
import hmacAuth from './hmac-auth/index.ts';
import httpLog from './http-log/index.ts';
import ipRestriction from './ip-restriction/index.ts';
import jwt from './jwt/index.ts';
import jwtClaims from './jwt-claims/index.ts';
import keyAuth from './key-auth/index.ts';
import ldapAuth from './ldap-auth/index.ts';
import loggly from './loggly/index.ts';
import oidc from './oidc/index.ts';
import opentelemetry from './opentelemetry/index.ts';
import prometheus from './prometheus/index.ts';
import proxyCache from './proxy-cache/index.ts';
import rateLimiting from './rate-limiting/index.ts';
import redirect from './redirect/index.ts';
import requestSizeLimiting from './request-size-limiting/index.ts';
import requestTermination from './request-termination/index.ts';
import requestTransformer from './request-transformer/index.ts';
import responseRateLimiting from './response-ratelimiting/index.ts';
import responseTransformer from './response-transformer/index.ts';
import session from './session/index.ts';
import standardWebhooks from './standard-webhooks/index.ts';
import statsd from './statsd/index.ts';
import syslog from './syslog/index.ts';
import tcpLog from './tcp-log/index.ts';
import udpLog from './udp-log/index.ts';
import zipkin from './zipkin/index.ts';

const builtins: PluginDefinition[] = [
  jwt,
  jwtClaims,
  keyAuth,
  acl,
  oidc,
  correlationId,
  requestTermination,
  cors,
  rateLimiting,
  requestTransformer,
  responseTransformer,
  ipRestriction,
  requestSizeLimiting,
  prometheus,
  botDetection,
  redirect,
  proxyCache,
  responseRateLimiting,
  basicAuth,
  ldapAuth,
  session,
  standardWebhooks,
  httpLog,
  fileLog,
  grpcGateway,
  grpcWeb,
  tcpLog,
  udpLog,
  loggly,
  syslog,
  statsd,
  datadog,
  hmacAuth,
  opentelemetry,
  zipkin,
  awsLambda,
  azureFunctions,
];

/** Built-in plugins by name. */
export const builtinPlugins: ReadonlyMap<string, PluginDefinition> = new Map(builtins.map((p) => [p.name, p]));
