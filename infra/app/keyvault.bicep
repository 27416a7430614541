// Key Vault with RBAC authorization holding the app's secrets. App settings refer to them with
// @Microsoft.KeyVault(SecretUri=...) without a version, so a new secret version is picked up without a redeploy.
param name string
param location string
param tags object = {}

@secure()
param sessionsApiKeys string

@secure()
@description('Empty: no secret is stored and the app runs with webhooks off.')
param webhookSigningSecret string = ''

@secure()
@description('Empty: no secret is stored (no LLM agent, or one that authenticates with the app\'s identity).')
param llmApiKey string = ''

var storeWebhookSigningSecret = length(webhookSigningSecret) > 0
var storeLlmApiKey = length(llmApiKey) > 0

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: tenant().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 7
    publicNetworkAccess: 'Enabled'
  }

  // Secret names allow only letters, digits and dashes, hence SESSIONS-API-KEYS for the SESSIONS_API_KEYS setting.
  resource sessionsApiKeysSecret 'secrets' = {
    name: 'SESSIONS-API-KEYS'
    properties: {
      value: sessionsApiKeys
      contentType: 'text/plain'
    }
  }

  resource webhookSigningSecretSecret 'secrets' = if (storeWebhookSigningSecret) {
    name: 'WEBHOOK-SIGNING-SECRET'
    properties: {
      value: webhookSigningSecret
      contentType: 'text/plain'
    }
  }

  resource llmApiKeySecret 'secrets' = if (storeLlmApiKey) {
    name: 'LLM-API-KEY'
    properties: {
      value: llmApiKey
      contentType: 'text/plain'
    }
  }
}

output name string = vault.name
output endpoint string = vault.properties.vaultUri
output sessionsApiKeysSecretUri string = '${vault.properties.vaultUri}secrets/${vault::sessionsApiKeysSecret.name}'
output webhookSigningSecretUri string = storeWebhookSigningSecret ? '${vault.properties.vaultUri}secrets/WEBHOOK-SIGNING-SECRET' : ''
output llmApiKeySecretUri string = storeLlmApiKey ? '${vault.properties.vaultUri}secrets/LLM-API-KEY' : ''
