using AgentSessions.Functions.Tests.Infrastructure;
using System.Text;
using System.Text.Json;
using AgentSessions.Functions.Webhooks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>One delivery attempt on its own, against a real loopback listener.</summary>
public sealed class DeliverWebhookActivityTests : IAsyncLifetime
{
    private WebhookReceiver receiver = null!;
    private ServiceProvider services = null!;

    private static WebhookOptions Options => WebhookTestHost.FastOptions(deliveryTimeout: TimeSpan.FromSeconds(10));

    public async Task InitializeAsync()
    {
        receiver = await WebhookReceiver.StartAsync();
        services = new ServiceCollection().AddWebhooks(Options).BuildServiceProvider();
    }

    public async Task DisposeAsync()
    {
        await receiver.DisposeAsync();
        await services.DisposeAsync();
    }

    private DeliverWebhookActivity Activity(WebhookOptions? options = null) => new(services.GetRequiredService<IHttpClientFactory>(),
        options ?? Options, TimeProvider.System, NullLogger<DeliverWebhookActivity>.Instance);

    private WebhookDelivery Delivery(string? url = null) => new(url ?? receiver.Url.ToString(),
        new WebhookEvent(WebhookEventNames.TaskDone, DateTimeOffset.UnixEpoch, "s1", JsonSerializer.SerializeToElement(new { result = "ok" })), "s1-7");

    [Fact]
    public async Task Success_ReportsTheStatusAndSendsTheHeaders()
    {
        receiver.Respond = (_, _) => Task.FromResult(204);
        var result = await Activity().RunAsync(Delivery(), default);

        Assert.Equal(WebhookDeliveryResult.Success(204), result);
        var request = Assert.Single(receiver.Requests);
        Assert.Equal("task.done", request.Header("X-Webhook-Event"));
        Assert.Equal("s1-7", request.Header("X-Webhook-Id"));
        Assert.Equal(DeliverWebhookActivity.UserAgent, request.Header("User-Agent"));
        Assert.Equal("{\"event\":\"task.done\",\"timestamp\":\"1970-01-01T00:00:00.000Z\",\"session_id\":\"s1\",\"data\":{\"result\":\"ok\"}}",
            Encoding.UTF8.GetString(request.Body));
    }

    [Theory]
    [InlineData(500)]
    [InlineData(404)]
    [InlineData(302)]
    public async Task NonSuccessAnswer_Throws_SoTheRetryPolicyApplies(int status)
    {
        receiver.Respond = (_, _) => Task.FromResult(status);
        var failure = await Assert.ThrowsAsync<WebhookDeliveryException>(() => Activity().RunAsync(Delivery(), default));
        Assert.Contains(status.ToString(System.Globalization.CultureInfo.InvariantCulture), failure.Message);
    }

    [Fact]
    public async Task NoAnswerWithinTheTimeout_Throws()
    {
        receiver.Respond = (_, aborted) => WebhookReceiver.NeverAnswer(aborted);
        var started = DateTime.UtcNow;
        var failure = await Assert.ThrowsAsync<WebhookDeliveryException>(() =>
            Activity(WebhookTestHost.FastOptions(deliveryTimeout: TimeSpan.FromMilliseconds(500))).RunAsync(Delivery(), default));
        Assert.Contains("no answer within 0.5 s", failure.Message);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task NothingListening_Throws()
    {
        var url = $"http://127.0.0.1:{LoopbackPorts.Free()}/hook";
        await Assert.ThrowsAsync<WebhookDeliveryException>(() => Activity().RunAsync(Delivery(url), default));
    }

    [Fact]
    public async Task ForbiddenAddress_IsRefusedWithoutSendingOrThrowing()
    {
        var strict = WebhookTestHost.FastOptions(allowPrivateNetworks: false);
        var result = await Activity(strict).RunAsync(Delivery(), default);
        Assert.False(result.Delivered);
        Assert.Contains("public addresses", result.Error);
        Assert.Empty(receiver.Requests);
    }
}
