// Everything `azd up` provisions for the agent sessions service: one resource group with a Function App on the Flex
// Consumption plan, its storage (identity only, no shared keys), monitoring and a Key Vault for the app's secrets.
// The outputs in UPPER_CASE become azd environment values.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('Name of the azd environment; it seeds a short hash used in every resource name.')
param environmentName string

@minLength(1)
@description('Region of every resource; it must offer the Flex Consumption plan.')
@metadata({
  azd: {
    type: 'location'
  }
})
param location string

@secure()
@minLength(1)
@description('SESSIONS_API_KEYS: \';\'-separated owner=sha256:<hex> (or owner=key) entries. Stored only in Key Vault.')
param sessionsApiKeys string

@secure()
@description('WEBHOOK_SIGNING_SECRET: the HMAC key webhook bodies are signed with (at least 16 characters; 32 random bytes in hex is a good choice). Stored only in Key Vault. Empty: webhooks are off.')
param webhookSigningSecret string = ''

@description('Name of an LLM agent to configure (Agents__<name>__Type=llm); empty for none. Name it agi-0 to make it the agent the SDKs ask for by default; otherwise the scripted agi-0 and agi-0-fast are configured beside it.')
param llmAgentName string = ''

@description('The LLM agent\'s OpenAI-compatible base URL, e.g. https://<resource>.openai.azure.com/openai/v1/ or https://api.openai.com/v1/.')
param llmEndpoint string = ''

@description('The LLM agent\'s model (for Azure OpenAI, the deployment name).')
param llmModel string = ''

@secure()
@description('The LLM agent\'s API key, stored only in Key Vault. Empty: the app\'s managed identity authenticates (Azure OpenAI), see llmAzureOpenAiResourceId.')
param llmApiKey string = ''

@description('Header that carries llmApiKey: Authorization (sent as Bearer <key>, OpenAI and most servers) or api-key (Azure OpenAI keys).')
param llmApiKeyHeader string = 'Authorization'

@description('Resource id of the Azure OpenAI (Cognitive Services) account behind llmEndpoint; with no llmApiKey the app\'s identity is given Cognitive Services OpenAI User on it. Empty: assign the role yourself.')
param llmAzureOpenAiResourceId string = ''

@minValue(1)
@maxValue(1000)
@description('Largest number of instances the Flex Consumption plan scales the app out to.')
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
@description('Memory of each app instance, in MB.')
param instanceMemoryMB int = 2048

@description('Object id of a user or group that may read and write the app\'s storage data for debugging; empty for none.')
param principalId string = ''

@allowed(['User', 'Group', 'ServicePrincipal'])
@description('Kind of principalId.')
param principalType string = 'User'

var abbrs = loadJsonContent('abbreviations.json')
var llmUsesIdentity = !empty(llmAgentName) && empty(llmApiKey)
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }
var functionAppName = '${abbrs.webSitesFunctions}api-${resourceToken}'
// Flex Consumption deploys the app package from this blob container.
var deploymentContainerName = 'app-package-${take(resourceToken, 7)}'

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: '${abbrs.resourcesResourceGroups}${environmentName}'
  location: location
  tags: tags
}

module identity 'app/identity.bicep' = {
  name: 'identity'
  scope: rg
  params: {
    name: '${abbrs.managedIdentityUserAssignedIdentities}api-${resourceToken}'
    location: location
    tags: tags
  }
}

module storage 'app/storage.bicep' = {
  name: 'storage'
  scope: rg
  params: {
    name: '${abbrs.storageStorageAccounts}${resourceToken}'
    location: location
    tags: tags
    deploymentContainerName: deploymentContainerName
  }
}

module monitoring 'app/monitoring.bicep' = {
  name: 'monitoring'
  scope: rg
  params: {
    logAnalyticsName: '${abbrs.operationalInsightsWorkspaces}${resourceToken}'
    applicationInsightsName: '${abbrs.insightsComponents}${resourceToken}'
    location: location
    tags: tags
  }
}

module keyVault 'app/keyvault.bicep' = {
  name: 'keyvault'
  scope: rg
  params: {
    name: '${abbrs.keyVaultVaults}${resourceToken}'
    location: location
    tags: tags
    sessionsApiKeys: sessionsApiKeys
    webhookSigningSecret: webhookSigningSecret
    llmApiKey: empty(llmAgentName) ? '' : llmApiKey
  }
}

// The LLM agent calls Azure OpenAI with the app's identity: the role goes on the account, wherever its resource group is.
module llmRbac 'app/openai-rbac.bicep' = if (llmUsesIdentity && !empty(llmAzureOpenAiResourceId)) {
  name: 'llm-rbac'
  scope: resourceGroup(split(llmAzureOpenAiResourceId, '/')[2], split(llmAzureOpenAiResourceId, '/')[4])
  params: {
    accountName: last(split(llmAzureOpenAiResourceId, '/'))
    identityPrincipalId: identity.outputs.principalId
  }
}

module rbac 'app/rbac.bicep' = {
  name: 'rbac'
  scope: rg
  params: {
    storageAccountName: storage.outputs.name
    keyVaultName: keyVault.outputs.name
    applicationInsightsName: monitoring.outputs.applicationInsightsName
    identityPrincipalId: identity.outputs.principalId
    userPrincipalId: principalId
    userPrincipalType: principalType
  }
}

module api 'app/api.bicep' = {
  name: 'api'
  scope: rg
  params: {
    name: functionAppName
    planName: '${abbrs.webServerFarms}${resourceToken}'
    location: location
    tags: tags
    identityId: identity.outputs.id
    identityClientId: identity.outputs.clientId
    storageAccountName: storage.outputs.name
    deploymentContainerName: deploymentContainerName
    applicationInsightsConnectionString: monitoring.outputs.applicationInsightsConnectionString
    sessionsApiKeysSecretUri: keyVault.outputs.sessionsApiKeysSecretUri
    webhookSigningSecretUri: keyVault.outputs.webhookSigningSecretUri
    llmAgentName: llmAgentName
    llmEndpoint: llmEndpoint
    llmModel: llmModel
    llmApiKeySecretUri: keyVault.outputs.llmApiKeySecretUri
    llmApiKeyHeader: llmApiKeyHeader
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
  }
  // The app starts (and resolves its Key Vault references) only once its identity may read what it needs.
  dependsOn: [
    rbac
  ]
}

output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = api.outputs.name
output SERVICE_API_NAME string = api.outputs.name
output SERVICE_API_URI string = api.outputs.uri
output AZURE_STORAGE_ACCOUNT_NAME string = storage.outputs.name
output AZURE_KEY_VAULT_NAME string = keyVault.outputs.name
output AZURE_KEY_VAULT_ENDPOINT string = keyVault.outputs.endpoint
output AZURE_USER_ASSIGNED_IDENTITY_CLIENT_ID string = identity.outputs.clientId
output APPLICATIONINSIGHTS_NAME string = monitoring.outputs.applicationInsightsName
