using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using AgentSessions.Functions.Health;
using AgentSessions.Functions.Tests.Http;
using AgentSessions.Functions.Tests.Infrastructure;
using Azure.Data.Tables;
using Microsoft.DurableTask.Client;
using Microsoft.DurableTask.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Health;

[Collection(AzuriteFixture.CollectionName)]
public sealed class HealthFunctionTests(AzuriteFixture azurite)
{
    private static HealthFunctions Health(string storageConnectionString, TimeSpan? timeout = null)
    {
        var options = new HealthOptions { CheckTimeout = timeout ?? TimeSpan.FromSeconds(5) };
        var tables = new TableServiceClient(storageConnectionString, HealthOptions.StorageClientOptions(options.CheckTimeout));
        return new HealthFunctions(new HealthChecker(tables, options, NullLogger<HealthChecker>.Instance));
    }

    private static Task<HttpAnswer> GetHealthAsync(HealthFunctions health, DurableTaskClient client) =>
        HttpCall.Get("/v1/health").InvokeAsync(r => health.GetAsync(r, client, default));

    [Fact]
    public async Task StorageAndTaskHubReachable_200Healthy_WithoutAuth()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);

        var answer = (await GetHealthAsync(Health(azurite.ConnectionString), host.Client)).Expect(200);

        Assert.Equal(
            """{"status":"healthy","checks":{"storage":{"status":"healthy"},"task_hub":{"status":"healthy"}}}""",
            answer.Raw);
    }

    [Fact]
    public async Task Answer_IsNeverCached()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        var health = Health(azurite.ConnectionString);

        var http = HttpCall.Get("/v1/health").BuildContext();
        var result = await health.GetAsync(http.Request, host.Client, default);
        await result.ExecuteResultAsync(new Microsoft.AspNetCore.Mvc.ActionContext(http, new(), new()));

        Assert.Equal("no-store", http.Response.Headers.CacheControl.ToString());
    }

    [Fact]
    public async Task StorageOnAClosedPort_503_StorageUnhealthyWithAnError_TaskHubHealthy()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);

        var answer = (await GetHealthAsync(Health(StorageEndpoints.ConnectionString(StorageEndpoints.ClosedPort())), host.Client)).Expect(503);

        Assert.Equal("unhealthy", answer.String("status"));
        var storage = answer.Json.GetProperty("checks").GetProperty("storage");
        Assert.Equal("unhealthy", storage.GetProperty("status").GetString());
        Assert.StartsWith("unreachable: ", storage.GetProperty("error").GetString(), StringComparison.Ordinal);
        var taskHub = answer.Json.GetProperty("checks").GetProperty("task_hub");
        Assert.Equal("healthy", taskHub.GetProperty("status").GetString());
        Assert.False(taskHub.TryGetProperty("error", out _));
        Assert.DoesNotContain(AzuriteFixture.AccountKey, answer.Raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task StorageThatNeverAnswers_503WithinTheTimeout()
    {
        // Accepts connections (the backlog does) but never answers a request.
        var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        try
        {
            await using var host = await SessionTestHost.StartAsync(azurite);
            var port = ((IPEndPoint)silent.LocalEndpoint).Port;
            var clock = Stopwatch.StartNew();

            var answer = (await GetHealthAsync(Health(StorageEndpoints.ConnectionString(port), TimeSpan.FromSeconds(1)), host.Client)).Expect(503);

            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
            var storage = answer.Json.GetProperty("checks").GetProperty("storage");
            Assert.Equal("no answer within 1 s", storage.GetProperty("error").GetString());
        }
        finally
        {
            silent.Stop();
        }
    }

    [Fact]
    public async Task TaskHubGone_503_TaskHubUnhealthyWithAnError_StorageHealthy()
    {
        var stopped = await DurableTestHosts.StartAsync(_ => { });
        var client = stopped.Client;
        await stopped.DisposeAsync();

        var answer = (await GetHealthAsync(Health(azurite.ConnectionString, TimeSpan.FromSeconds(2)), client)).Expect(503);

        var checks = answer.Json.GetProperty("checks");
        Assert.Equal("healthy", checks.GetProperty("storage").GetProperty("status").GetString());
        var taskHub = checks.GetProperty("task_hub");
        Assert.Equal("unhealthy", taskHub.GetProperty("status").GetString());
        Assert.False(string.IsNullOrWhiteSpace(taskHub.GetProperty("error").GetString()));
    }

    [Fact]
    public async Task ProbeQuery_MatchesNoSession()
    {
        await using var host = await SessionTestHost.StartAsync(azurite);
        await host.Gateway.CreateAsync("alice", new AgentSessions.Functions.Sessions.NewSession("agi-0", 100, null, null), null, default);

        var found = new List<OrchestrationMetadata>();
        await foreach (var instance in host.Client.GetAllInstancesAsync(new OrchestrationQuery { InstanceIdPrefix = HealthChecker.ProbeInstancePrefix }))
        {
            found.Add(instance);
        }

        Assert.Empty(found);
        Assert.NotEmpty(await host.Gateway.ListAsync("alice", default));
    }
}
