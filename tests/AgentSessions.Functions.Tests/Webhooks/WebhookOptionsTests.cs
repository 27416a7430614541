using AgentSessions.Functions.Webhooks;
using Microsoft.Extensions.Configuration;

namespace AgentSessions.Functions.Tests.Webhooks;

public sealed class WebhookOptionsTests
{
    private static IConfiguration Settings(params (string Name, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Name, v.Value))).Build();

    [Fact]
    public void NoSettings_WebhooksOffAndPrivateNetworksRefused()
    {
        var options = WebhookOptions.FromConfiguration(Settings());
        Assert.False(options.IsConfigured);
        Assert.False(options.AllowPrivateNetworks);
        Assert.Equal(TimeSpan.FromSeconds(10), options.DeliveryTimeout);
        Assert.Equal(WebhookTestHost.Schedule(86_400, 5, 30, 120, 600, 3600), options.Schedule);
        Assert.Equal(100, options.LogEventsPerSession);
        Assert.Equal(TimeSpan.FromSeconds(5), options.DeleteWait);
    }

    [Fact]
    public void ScheduleWindowLogAndDeleteWait_AreRead()
    {
        var options = WebhookOptions.FromConfiguration(Settings(
            ("WEBHOOKS_RETRY_SCHEDULE_SECONDS", " 0.5, 1,2.5 "), ("WEBHOOKS_RETRY_WINDOW_SECONDS", "120"),
            ("WEBHOOKS_LOG_EVENTS", "20"), ("WEBHOOKS_DELETE_WAIT_SECONDS", "0")));
        Assert.Equal(WebhookTestHost.Schedule(120, 0.5, 1, 2.5), options.Schedule);
        Assert.Equal(20, options.LogEventsPerSession);
        Assert.Equal(TimeSpan.Zero, options.DeleteWait);
    }

    [Theory]
    [InlineData("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "5,,30")]
    [InlineData("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "5,-1")]
    [InlineData("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "5,0")]
    [InlineData("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "5s,30s")]
    [InlineData("WEBHOOKS_RETRY_SCHEDULE_SECONDS", "100000")]
    [InlineData("WEBHOOKS_RETRY_WINDOW_SECONDS", "0")]
    [InlineData("WEBHOOKS_RETRY_WINDOW_SECONDS", "a day")]
    [InlineData("WEBHOOKS_LOG_EVENTS", "0")]
    [InlineData("WEBHOOKS_LOG_EVENTS", "2.5")]
    [InlineData("WEBHOOKS_DELETE_WAIT_SECONDS", "-1")]
    public void BadScheduleSetting_StopsStartUpNamingTheSetting(string name, string value)
    {
        var failure = Assert.Throws<InvalidOperationException>(() => WebhookOptions.FromConfiguration(Settings((name, value))));
        Assert.Contains(name, failure.Message);
    }

    [Fact]
    public void SecretAndAllowPrivateNetworks_AreRead_AndTheSecretNeverPrinted()
    {
        var options = WebhookOptions.FromConfiguration(Settings(
            ("WEBHOOK_SIGNING_SECRET", "a-long-enough-secret-value"), ("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "True")));
        Assert.True(options.IsConfigured);
        Assert.Equal("a-long-enough-secret-value", options.SigningSecret);
        Assert.True(options.AllowPrivateNetworks);
        Assert.DoesNotContain("a-long-enough-secret-value", options.ToString());
    }

    [Fact]
    public void ShortSecret_StopsStartUpNamingTheSettingButNotTheValue()
    {
        var failure = Assert.Throws<InvalidOperationException>(() =>
            WebhookOptions.FromConfiguration(Settings(("WEBHOOK_SIGNING_SECRET", "short-pw"))));
        Assert.Contains("WEBHOOK_SIGNING_SECRET", failure.Message);
        Assert.DoesNotContain("short-pw", failure.Message);
    }

    [Fact]
    public void BadBoolean_StopsStartUpNamingTheSetting()
    {
        var failure = Assert.Throws<InvalidOperationException>(() =>
            WebhookOptions.FromConfiguration(Settings(("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", "yes"))));
        Assert.Contains("WEBHOOKS_ALLOW_PRIVATE_NETWORKS", failure.Message);
    }
}
