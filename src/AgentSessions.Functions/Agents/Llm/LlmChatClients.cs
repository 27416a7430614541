using System.ClientModel;
using System.ClientModel.Primitives;
using Azure.Core;
using Azure.Identity;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;

namespace AgentSessions.Functions.Agents.Llm;

/// <summary>
/// Makes the <see cref="IChatClient"/> of an LLM agent: the OpenAI library's chat-completions client (any
/// OpenAI-compatible endpoint) behind Microsoft.Extensions.AI, on the app's own HTTP client, with retries off (the
/// orchestration retries steps, see <see cref="AgentRetry"/>) and the agent's credential.
/// </summary>
public sealed class LlmChatClients
{
    private readonly LlmAgentOptions options;
    private readonly AuthenticationPolicy authentication;

    public LlmChatClients(LlmAgentOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        this.options = options;
        authentication = options.Credential switch
        {
            LlmCredential.ApiKey when options.ApiKeyHeader.Equals(LlmAgentOptions.AuthorizationHeader, StringComparison.OrdinalIgnoreCase)
                => ApiKeyAuthenticationPolicy.CreateBearerAuthorizationPolicy(new ApiKeyCredential(options.ApiKey!)),
            LlmCredential.ApiKey => ApiKeyAuthenticationPolicy.CreateHeaderApiKeyPolicy(new ApiKeyCredential(options.ApiKey!), options.ApiKeyHeader),
            // One credential per agent for the life of the app, so its token cache is reused across steps.
            LlmCredential.ManagedIdentity => new BearerTokenPolicy(ManagedIdentity(options.ClientId), LlmAgentOptions.CognitiveServicesScope),
            _ => new NoAuthentication(),
        };
    }

    /// <summary>A client for one step on <paramref name="http"/> (from <see cref="IHttpClientFactory"/>, so handlers rotate).</summary>
    public IChatClient Create(HttpClient http)
    {
        var clientOptions = new OpenAIClientOptions
        {
            Endpoint = options.Endpoint,
            Transport = new HttpClientPipelineTransport(http),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            NetworkTimeout = options.Timeout,
        };
        // OPENAI001: the constructor taking an AuthenticationPolicy is marked experimental; it is the library's one way to
        // send an Entra ID token (Azure OpenAI's v1 API with a managed identity), a key in another header, or no key.
#pragma warning disable OPENAI001
        return new ChatClient(options.Model, authentication, clientOptions).AsIChatClient();
#pragma warning restore OPENAI001
    }

    private static TokenCredential ManagedIdentity(string? clientId) =>
        clientId is null
            ? new ManagedIdentityCredential(ManagedIdentityId.SystemAssigned)
            : new ManagedIdentityCredential(ManagedIdentityId.FromUserAssignedClientId(clientId));

    /// <summary>For endpoints that need no credential (a local Ollama): sends no Authorization header at all.</summary>
    private sealed class NoAuthentication : AuthenticationPolicy
    {
        public override void Process(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex) =>
            ProcessNext(message, pipeline, currentIndex);

        public override ValueTask ProcessAsync(PipelineMessage message, IReadOnlyList<PipelinePolicy> pipeline, int currentIndex) =>
            ProcessNextAsync(message, pipeline, currentIndex);
    }
}
