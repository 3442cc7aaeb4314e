from setuptools import find_packages, setup

package_name = 'heisenberg_common'

setup(
    name=package_name,
    version='0.1.0',
    packages=find_packages(exclude=['test']),
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + package_name]),
        ('share/' + package_name, ['package.xml']),
    ],
    install_requires=['setuptools'],
    zip_safe=True,
    maintainer='Heisenberg developers',
    maintainer_email='dev@heisenberg.invalid',
    description='Parameters from config dataclasses, QoS profiles and a clean main() for Heisenberg nodes.',
    license='Apache-2.0',
    tests_require=['pytest'],
)
