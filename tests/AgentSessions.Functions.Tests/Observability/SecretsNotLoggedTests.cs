using System.Text;
using AgentSessions.Functions.Agents;
using AgentSessions.Functions.Agents.Llm;
using AgentSessions.Functions.Auth;
using AgentSessions.Functions.Health;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Messages;
using AgentSessions.Functions.Observability;
using AgentSessions.Functions.Tests.Agents;
using AgentSessions.Functions.Tests.Agents.Llm;
using AgentSessions.Functions.Tests.Health;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using Azure.Data.Tables;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentSessions.Functions.Tests.Observability;

/// <summary>
/// API keys, the webhook signing secret, agents' keys and header values and the storage account key never reach a log line (message, structured
/// values, scopes or exception text), nor an answer: checked on requests with good and bad keys, an unhandled storage
/// failure, a failing health check, and start-up with bad settings.
/// </summary>
[Collection(AzuriteFixture.CollectionName)]
public sealed class SecretsNotLoggedTests(AzuriteFixture azurite)
{
    private const string WrongKey = "wrong-key-5f0c1e9a7b3d";
    private const string WebhookSecret = "whsec-4b1d0c7e9a2f6e8d3c5b7a9f1e2d4c6b";
    private const string LlmKey = "sk-proj-8c2d4e6f0a1b3c5d7e9f";
    private const string AgentHeaderSecret = "agent-token-3e5f7a9c1b2d";

    private static readonly string BasicAlice = Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + SessionTestHost.AliceKey));

    private static readonly string[] RequestSecrets =
        [SessionTestHost.AliceKey, SessionTestHost.BobKey, WrongKey, BasicAlice, AzuriteFixture.AccountKey];

    [Fact]
    public async Task Requests_WithGoodAndBadKeys_AndFailures_LogNoKeyAndAnswerNoKey()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = capture.CreateFactory();
        await using var host = await SessionTestHost.StartAsync(azurite);
        var unreachable = StorageEndpoints.ConnectionString(StorageEndpoints.ClosedPort());
        var brokenStore = new TableMessageStore(new TableClient(unreachable, "msgs", new TableClientOptions { Retry = { MaxRetries = 0 } }));
        var brokenMessages = new MessageFunctions(host.Auth, host.Gateways, brokenStore, host.Options);
        var health = new HealthFunctions(new HealthChecker(
            new TableServiceClient(unreachable, HealthOptions.StorageClientOptions(TimeSpan.FromSeconds(5))),
            new HealthOptions(), factory.CreateLogger<HealthChecker>()));
        var answers = new List<string>();

        async Task<int> SendAsync(HttpCall call, string function, string? sessionId, Func<HttpRequest, Task<IActionResult>> run)
        {
            var http = call.BuildContext();
            var bindingData = new Dictionary<string, object?>();
            if (sessionId is not null)
            {
                bindingData["sessionId"] = sessionId;
            }

            await FunctionPipeline.RunAsync(FunctionPipeline.Context(function, http, bindingData), run,
                new SessionLogScopeMiddleware(factory.CreateLogger<SessionLogScopeMiddleware>()),
                new ErrorBodyMiddleware(factory.CreateLogger<ErrorBodyMiddleware>()));
            answers.Add(Encoding.UTF8.GetString(((MemoryStream)http.Response.Body).ToArray()));
            return http.Response.StatusCode;
        }

        var create = HttpCall.Post("/v1/sessions").Bearer(SessionTestHost.AliceKey).Json("""{"goal":"[steps=1000] [delay=200] research"}""");
        Assert.Equal(201, await SendAsync(create, "CreateSession", null, r => host.SessionFunctions.CreateAsync(r, host.Client, default)));
        var id = System.Text.Json.JsonDocument.Parse(answers[^1]).RootElement.GetProperty("session_id").GetString()!;

        Task<int> GetAsync(string? authorization) =>
            SendAsync(HttpCall.Get($"/v1/sessions/{id}").Authorization(authorization), "GetSession", id,
                r => host.SessionFunctions.GetAsync(r, id, host.Client, default));

        Assert.Equal(200, await GetAsync("Bearer " + SessionTestHost.AliceKey));
        Assert.Equal(404, await GetAsync("Bearer " + SessionTestHost.BobKey));
        Assert.Equal(401, await GetAsync("Bearer " + WrongKey));
        Assert.Equal(401, await GetAsync("Basic " + BasicAlice));
        Assert.Equal(401, await GetAsync(SessionTestHost.AliceKey));
        Assert.Equal(401, await GetAsync(null));

        // The message store is unreachable: 503 (it may come back), logged with its exception by ErrorBodyMiddleware.
        Assert.Equal(503, await SendAsync(
            HttpCall.Get($"/v1/sessions/{id}/messages").Bearer(SessionTestHost.AliceKey), "GetMessages", id,
            r => brokenMessages.GetAsync(r, id, host.Client, default)));

        // Health with the same unreachable storage: a warning with the storage exception.
        Assert.Equal(503, await SendAsync(HttpCall.Get("/v1/health"), "Health", null, r => health.GetAsync(r, host.Client, default)));

        var logs = capture.Logs;
        Assert.Contains(logs, l => l.Level == LogLevel.Warning && l.Exception is not null && l.Category == typeof(ErrorBodyMiddleware).FullName
            && l.ScopeValues.Contains(new KeyValuePair<string, object?>(SessionLogScope.Key, id)));
        Assert.Contains(logs, l => l.Level == LogLevel.Warning && l.Category == typeof(HealthChecker).FullName && l.Exception is not null);
        AssertNoSecret(logs.Select(l => l.AllText).Concat(answers), RequestSecrets);
    }

    /// <summary>Bad <c>SESSIONS_API_KEYS</c> values with the key each carries; the start-up error must name the entry, never the key.</summary>
    public static TheoryData<string, string> BadKeySettings() => new()
    {
        { "alice=good-key-1;bare-key-without-owner-3c9e1a", "bare-key-without-owner-3c9e1a" },
        { "alice=sha256:not-a-digest-8e2f4d", "not-a-digest-8e2f4d" },
        { "=key-without-owner-1b7d3f", "key-without-owner-1b7d3f" },
        { "bad owner!=key-of-a-bad-owner-6a0c2e", "key-of-a-bad-owner-6a0c2e" },
        { "alice=key-before-an-empty-one-9d4b8c;bob=", "key-before-an-empty-one-9d4b8c" },
        { "alice=key-with=sign-2e6f0a;bob=sha256:0123", "key-with=sign-2e6f0a" },
    };

    [Theory]
    [MemberData(nameof(BadKeySettings))]
    public void BadApiKeySetting_StartUpError_NamesTheSettingButNeverTheKey(string setting, string key)
    {
        var capture = new CapturingLoggerProvider();
        using var factory = capture.CreateFactory();
        var settings = AppSettings((ApiKeyAuthenticator.SettingName, setting));

        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddAgentSessions(settings));
        factory.CreateLogger("Host.Startup").LogCritical(error, "The app could not start: {Reason}", error.Message);

        Assert.Contains(ApiKeyAuthenticator.SettingName, error.Message, StringComparison.Ordinal);
        AssertNoSecret(capture.Logs.Select(l => l.AllText), [key]);
    }

    [Fact]
    public void BareBase64KeyWithoutOwner_StartUpError_DoesNotEchoTheKey()
    {
        const string key = "Zm9v+YmFy/c2VjcmV0==";
        var error = Assert.Throws<InvalidOperationException>(() => ApiKeyAuthenticator.Parse(key));
        AssertNoSecret([error.ToString()], [key[..^2]]);
    }

    [Fact]
    public void ShortWebhookSecret_StartUpError_NeverShowsIt()
    {
        const string shortSecret = "whsec-7c1a";
        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddAgentSessions(AppSettings(
            (ApiKeyAuthenticator.SettingName, "alice=" + SessionTestHost.AliceKey), ("WEBHOOK_SIGNING_SECRET", shortSecret))));

        Assert.Contains("WEBHOOK_SIGNING_SECRET", error.Message, StringComparison.Ordinal);
        AssertNoSecret([error.ToString()], [shortSecret]);
    }

    [Fact]
    public void StartUp_WithAllSecretsSet_LogsNoneOfThem()
    {
        var capture = new CapturingLoggerProvider();
        var settings = AppSettings(
            (ApiKeyAuthenticator.SettingName, $"alice={SessionTestHost.AliceKey};bob=sha256:{new string('a', 64)}"),
            ("WEBHOOK_SIGNING_SECRET", WebhookSecret),
            (ObservabilityServiceCollectionExtensions.ConnectionStringSetting, "InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=http://127.0.0.1:9/"),
            ("Agents:gpt:Type", "llm"), ("Agents:gpt:Endpoint", "http://127.0.0.1:9/v1/"), ("Agents:gpt:Model", "gpt-4o-mini"), ("Agents:gpt:ApiKey", LlmKey),
            ("Agents:remote:Type", "http"), ("Agents:remote:Url", "http://127.0.0.1:9/agent"), ("Agents:remote:HeaderName", "Authorization"),
            ("Agents:remote:HeaderValue", "Bearer " + AgentHeaderSecret));
        var services = new ServiceCollection()
            .AddLogging(builder => builder.SetMinimumLevel(LogLevel.Trace).AddProvider(capture))
            .AddAgentSessions(settings)
            .AddObservability(settings);

        using (var provider = services.BuildServiceProvider())
        {
            // What the worker resolves to run the functions, so every singleton that might log at construction does.
            foreach (var descriptor in services.Where(d => d.Lifetime == ServiceLifetime.Singleton && !d.ServiceType.ContainsGenericParameters).ToList())
            {
                provider.GetServices(descriptor.ServiceType).ToList();
            }

            ActivatorUtilities.CreateInstance<HealthFunctions>(provider);
        }

        AssertNoSecret(capture.Logs.Select(l => l.AllText), [SessionTestHost.AliceKey, WebhookSecret, AzuriteFixture.AccountKey, LlmKey, AgentHeaderSecret]);
    }

    [Fact]
    public void BadLlmAgentSetting_StartUpError_NamesTheSettingButNeverTheKey()
    {
        var error = Assert.Throws<InvalidOperationException>(() => new ServiceCollection().AddAgentSessions(AppSettings(
            (ApiKeyAuthenticator.SettingName, "alice=" + SessionTestHost.AliceKey),
            ("Agents:gpt:Type", "llm"), ("Agents:gpt:Endpoint", "https://models.example.com/v1/"), ("Agents:gpt:Model", "m"),
            ("Agents:gpt:ApiKey", LlmKey), ("Agents:gpt:Credential", "managedidentity"))));

        Assert.Contains("Agents__gpt__ApiKey", error.Message, StringComparison.Ordinal);
        AssertNoSecret([error.ToString()], [LlmKey]);
    }

    /// <summary>Every way a model call fails ends in an exception or an ERROR message the user reads: none carries the key.</summary>
    [Fact]
    public async Task LlmAgent_FailedCalls_NeverCarryItsKey()
    {
        await using var server = await FakeModelServer.StartAsync();
        server.Then(
            FakeModelServer.Status(401, """{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"""),
            FakeModelServer.Status(500, "upstream failed"),
            FakeModelServer.Raw(200, "application/json", "{ not json"),
            FakeModelServer.Reply([new FakeToolCall("finish", "{broken")]));
        var store = new TableMessageStore(new TableClient(azurite.ConnectionString, "secrets" + Guid.NewGuid().ToString("N")[..20]));
        var agent = new LlmAgent(server.Options(configure: o => o with { ApiKey = LlmKey }), store, AgentHttpClients.Shared, TimeProvider.System);
        var texts = new List<string>();
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var step = await new DeciderSession(store).StartAsync("Task");
            try
            {
                var result = await agent.ExecuteStepAsync(step!, CancellationToken.None);
                texts.AddRange(result.Messages.Select(m => m.Content.GetRawText() + m.Metadata?.GetRawText()));
            }
            catch (AgentCallException failure)
            {
                texts.Add(failure.ToString());
            }
        }

        Assert.Equal(4, texts.Count);
        Assert.All(server.Requests, r => Assert.Equal("Bearer " + LlmKey, r.Header("Authorization")));
        AssertNoSecret(texts, [LlmKey]);
    }

    private IConfiguration AppSettings(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder()
            .AddInMemoryCollection(new Dictionary<string, string?> { ["AzureWebJobsStorage"] = azurite.ConnectionString })
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();

    private static void AssertNoSecret(IEnumerable<string> texts, IReadOnlyList<string> secrets)
    {
        foreach (var text in texts)
        {
            foreach (var secret in secrets)
            {
                Assert.False(text.Contains(secret, StringComparison.Ordinal), $"A secret ({secret[..3]}…) appears in:{Environment.NewLine}{text}");
            }
        }
    }
}
