// The Function App on the Flex Consumption plan (.NET 10 isolated worker). Its identity reaches storage, Key Vault
// and Application Insights; no app setting holds a key.
param name string
param planName string
param location string
param tags object = {}
param identityId string
param identityClientId string
param storageAccountName string
param deploymentContainerName string
param applicationInsightsConnectionString string
param sessionsApiKeysSecretUri string

@description('Empty: WEBHOOK_SIGNING_SECRET is not set and webhooks are off.')
param webhookSigningSecretUri string = ''

@description('Empty: no LLM agent is configured, and the app keeps its default scripted agents.')
param llmAgentName string = ''
param llmEndpoint string = ''
param llmModel string = ''

@description('Empty: the LLM agent authenticates with the app\'s identity (Agents__<name>__Credential=managedidentity).')
param llmApiKeySecretUri string = ''
param llmApiKeyHeader string = 'Authorization'

@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('azd deploys the service named so in azure.yaml to the resource carrying this tag.')
param serviceName string = 'api'

// Agents__<name>__* settings. Configuring any agent replaces the built-in defaults, so the scripted agents the SDKs
// ask for by default stay configured beside an LLM agent named otherwise.
var llmPrefix = 'Agents__${llmAgentName}__'
var llmAgentSettings = empty(llmAgentName) ? {} : union({
  '${llmPrefix}Type': 'llm'
  '${llmPrefix}Endpoint': llmEndpoint
  '${llmPrefix}Model': llmModel
}, empty(llmApiKeySecretUri) ? {
  '${llmPrefix}Credential': 'managedidentity'
  '${llmPrefix}ClientId': identityClientId
} : {
  '${llmPrefix}ApiKey': '@Microsoft.KeyVault(SecretUri=${llmApiKeySecretUri})'
  '${llmPrefix}ApiKeyHeader': empty(llmApiKeyHeader) ? 'Authorization' : llmApiKeyHeader
}, llmAgentName == 'agi-0' ? {} : {
  'Agents__agi-0__Type': 'scripted'
  'Agents__agi-0-fast__Type': 'scripted'
  'Agents__agi-0-fast__StepDelayMs': '100'
})

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    tier: 'FlexConsumption'
    name: 'FC1'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: name
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    // @Microsoft.KeyVault references resolve with the user-assigned identity (the default would be a system one).
    keyVaultReferenceIdentity: identityId
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
    }
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${deploymentContainerName}'
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identityId
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'dotnet-isolated'
        version: '10.0'
      }
    }
  }

  // Flex Consumption takes the worker runtime from functionAppConfig.runtime: FUNCTIONS_WORKER_RUNTIME and
  // FUNCTIONS_EXTENSION_VERSION must not be app settings here.
  resource appSettings 'config' = {
    name: 'appsettings'
    properties: union({
      // Identity-based AzureWebJobsStorage for the host and the Durable task hub (Azure Storage backend).
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      AzureWebJobsStorage__clientId: identityClientId
      APPLICATIONINSIGHTS_CONNECTION_STRING: applicationInsightsConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'
      SESSIONS_API_KEYS: '@Microsoft.KeyVault(SecretUri=${sessionsApiKeysSecretUri})'
    }, empty(webhookSigningSecretUri) ? {} : {
      WEBHOOK_SIGNING_SECRET: '@Microsoft.KeyVault(SecretUri=${webhookSigningSecretUri})'
    }, llmAgentSettings)
  }
}

output name string = app.name
output uri string = 'https://${app.properties.defaultHostName}'
