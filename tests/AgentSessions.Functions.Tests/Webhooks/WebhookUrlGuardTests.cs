using System.Net;
using AgentSessions.Functions.Http;
using AgentSessions.Functions.Webhooks;

namespace AgentSessions.Functions.Tests.Webhooks;

/// <summary>The SSRF guard. Only IP literals and "localhost" are used, so no test sends anything off this machine.</summary>
public sealed class WebhookUrlGuardTests
{
    private static readonly WebhookOptions Default = new() { SigningSecret = WebhookTestHost.Secret };

    [Theory]
    [InlineData("http://127.0.0.1/hook")]
    [InlineData("http://127.8.9.10:8080/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://10.1.2.3/hook")]
    [InlineData("http://192.168.0.1/hook")]
    [InlineData("http://172.16.5.4/hook")]
    [InlineData("http://172.31.255.255/hook")]
    [InlineData("http://169.254.169.254/latest/meta-data/")]
    [InlineData("http://100.64.0.1/hook")]
    [InlineData("http://100.100.100.200/hook")]
    [InlineData("http://0.0.0.0/hook")]
    [InlineData("http://224.0.0.1/hook")]
    [InlineData("http://255.255.255.255/hook")]
    [InlineData("http://2130706433/hook")]
    [InlineData("http://0x7f.1/hook")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://[::]/hook")]
    [InlineData("http://[fe80::1]/hook")]
    [InlineData("http://[fc00::1]/hook")]
    [InlineData("http://[fd00:ec2::254]/hook")]
    [InlineData("http://[::ffff:127.0.0.1]/hook")]
    [InlineData("http://[::ffff:169.254.169.254]/hook")]
    [InlineData("http://[64:ff9b::a9fe:a9fe]/hook")]
    [InlineData("http://[2002:7f00:1::]/hook")]
    [InlineData("http://[ff02::1]/hook")]
    public async Task PrivateLoopbackLinkLocalAndMetadataAddresses_AreRefusedWith422(string url)
    {
        var refused = await Assert.ThrowsAsync<ApiException>(() => new WebhookUrlGuard(Default).EnsureAllowedAsync(new Uri(url), default));
        Assert.Equal(422, refused.StatusCode);
        Assert.StartsWith("webhook_url: ", refused.Message);
        Assert.Contains("public addresses", refused.Message);
    }

    [Theory]
    [InlineData("http://93.184.216.34/hook")]
    [InlineData("https://8.8.8.8:8443/hook?x=1")]
    [InlineData("http://172.32.0.1/hook")]
    [InlineData("http://100.128.0.1/hook")]
    [InlineData("http://[2606:4700:4700::1111]/hook")]
    [InlineData("http://[64:ff9b::808:808]/hook")]
    public async Task PublicAddressLiterals_AreAllowed_WithoutAnyLookup(string url)
    {
        await new WebhookUrlGuard(Default).EnsureAllowedAsync(new Uri(url), default);
    }

    [Theory]
    [InlineData("http://127.0.0.1:7071/hook")]
    [InlineData("http://localhost/hook")]
    [InlineData("http://[::1]/hook")]
    [InlineData("http://169.254.169.254/hook")]
    public async Task AllowPrivateNetworks_AllowsLocalAddresses(string url)
    {
        var options = new WebhookOptions { SigningSecret = WebhookTestHost.Secret, AllowPrivateNetworks = true };
        await new WebhookUrlGuard(options).EnsureAllowedAsync(new Uri(url), default);
    }

    [Fact]
    public async Task WithoutASigningSecret_EveryWebhookUrlIsRefused()
    {
        var guard = new WebhookUrlGuard(new WebhookOptions { AllowPrivateNetworks = true });
        var refused = await Assert.ThrowsAsync<ApiException>(() => guard.EnsureAllowedAsync(new Uri("http://93.184.216.34/hook"), default));
        Assert.Equal(422, refused.StatusCode);
        Assert.Contains("not configured", refused.Message);
        Assert.Contains(WebhookOptions.SigningSecretSetting, refused.Message);
    }

    [Theory]
    [InlineData("ftp://93.184.216.34/hook")]
    [InlineData("file:///etc/passwd")]
    public async Task NonHttpSchemes_AreRefused(string url)
    {
        var refused = await Assert.ThrowsAsync<ApiException>(() => new WebhookUrlGuard(Default).EnsureAllowedAsync(new Uri(url), default));
        Assert.Equal(422, refused.StatusCode);
    }

    [Fact]
    public async Task UnresolvableHost_IsRefused()
    {
        // ".invalid" never resolves (RFC 6761); resolvers answer it without asking anyone.
        var refused = await Assert.ThrowsAsync<ApiException>(() =>
            new WebhookUrlGuard(Default).EnsureAllowedAsync(new Uri("http://no-such-host.invalid/hook"), default));
        Assert.Equal(422, refused.StatusCode);
        Assert.Contains("resolved", refused.Message);
    }

    [Theory]
    [InlineData("198.18.0.1", true)]
    [InlineData("192.0.0.170", true)]
    [InlineData("240.0.0.1", true)]
    [InlineData("fec0::1", true)]
    [InlineData("::127.0.0.1", true)]
    [InlineData("64:ff9b:1::1", true)]
    [InlineData("1.1.1.1", false)]
    [InlineData("2001:4860:4860::8888", false)]
    [InlineData("2002:0808:0808::1", false)]
    public void IsForbidden_CoversReservedRanges(string address, bool forbidden)
    {
        Assert.Equal(forbidden, WebhookUrlGuard.IsForbidden(IPAddress.Parse(address)));
    }

    [Fact]
    public async Task DeliveryClient_WithoutPrivateNetworks_RefusesToConnectToLoopback()
    {
        // The address check at connect time (against DNS changing after the URL check), on a real listener.
        await using var receiver = await WebhookReceiver.StartAsync();
        var services = new Microsoft.Extensions.DependencyInjection.ServiceCollection().AddWebhooks(Default);
        await using var provider = Microsoft.Extensions.DependencyInjection.ServiceCollectionContainerBuilderExtensions.BuildServiceProvider(services);
        var client = Microsoft.Extensions.DependencyInjection.ServiceProviderServiceExtensions.GetRequiredService<IHttpClientFactory>(provider)
            .CreateClient(DeliverWebhookActivity.HttpClientName);

        var failure = await Assert.ThrowsAsync<HttpRequestException>(() => client.PostAsync(receiver.Url, new StringContent("{}")));
        Assert.Contains("loopback, private", failure.Message);
        Assert.Empty(receiver.Requests);
    }
}
